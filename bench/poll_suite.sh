#!/usr/bin/env bash
# What the safepoint polls cost on the benchmark suite, in instructions: runs
# bench/poll_instructions.sh (callgrind, with and without LIVEJIT_NO_POLLS=1) on each program of
# bench/suite/, scaled down so that callgrind finishes in reasonable time (the kernels are the
# same; only the repetition count or problem size of the timed run shrinks, see SCALE below).
#
#   bench/poll_suite.sh [NAME...]        (default: all thirteen)
set -euo pipefail
cd "$(dirname "$0")/.."
declare -A SCALE=(
  [bounce]='s/^let result = run(4000);/let result = run(100);/'
  [list]='s/^let result = run(6000);/let result = run(200);/'
  [mandelbrot]='s/^let result = run(5);/let result = run(1);/'
  [nbody]='s/^let result = run(4);/let result = run(1);/'
  [permute]='s/^let result = run(4000);/let result = run(100);/'
  [queens]='s/^let result = run(3000);/let result = run(100);/'
  [sieve]='s/^let result = run(6000);/let result = run(200);/'
  [storage]='s/^let result = run(600);/let result = run(20);/'
  [towers]='s/^let result = run(1500);/let result = run(50);/'
  [nbody_bg]='s/^nbody(2000000, out);/nbody(100000, out);/'
  [spectralnorm]='s/^let result = spectral_norm(1000);/let result = spectral_norm(300);/'
  [fannkuch]='s/^fannkuch(10, out);/fannkuch(8, out);/; /^assert(out\[0\] == 73196/d'
  [mandelbrot_bg]='s/^let result = run(1600);/let result = run(400);/'
)
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(bounce list mandelbrot nbody permute queens sieve storage towers nbody_bg spectralnorm fannkuch mandelbrot_bg)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for name in "${names[@]}"; do
  sed "${SCALE[$name]}" "bench/suite/$name.src" > "$tmp/$name.src"
  if cmp -s "bench/suite/$name.src" "$tmp/$name.src"; then
    echo "$name: the scaling edit no longer matches bench/suite/$name.src" >&2
    exit 1
  fi
  printf '%-14s ' "$name"
  bench/poll_instructions.sh "$tmp/$name.src" | tr '\n' ' '
  echo
done
