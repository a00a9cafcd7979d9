#!/usr/bin/env bash
# Startup to first result: `echo '1 + 1' | livejit` (release build), with hyperfine when it is
# installed (apt-get install hyperfine), otherwise the best and mean of RUNS timed runs.
#
#   bench/startup.sh        (RUNS=50)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-50}
bin=target/release/livejit
[ -x "$bin" ] || cargo build --release -q
[ "$(echo '1 + 1' | "$bin")" = 2 ] || { echo "livejit did not print 2" >&2; exit 1; }
if command -v hyperfine > /dev/null; then
  hyperfine -N --warmup 5 --runs "$runs" --input <(echo '1 + 1') "$bin" 2>/dev/null ||
    hyperfine --warmup 5 --runs "$runs" "echo '1 + 1' | $bin"
else
  for _ in $(seq 1 "$runs"); do
    start=$(date +%s%N)
    echo '1 + 1' | "$bin" > /dev/null
    echo $(( $(date +%s%N) - start ))
  done | sort -n | awk '{ t[NR] = $1; s += $1 } END {
    printf "echo 1 + 1 | livejit: best %.1f ms, median %.1f ms, mean %.1f ms over %d runs\n",
      t[1] / 1e6, t[int((NR + 1) / 2)] / 1e6, s / NR / 1e6, NR }'
fi
