#!/usr/bin/env bash
# Define-to-callable, two ways (issue 12's targets), on the release binary:
#  1. piped: 300 distinct 15-line functions, each followed by a call, piped into `livejit`
#     (script mode, one input at a time). Every call prints time_ns(), so the difference between
#     consecutive calls is the time to parse, check, compile and install one function and call
#     it. Prints the median, mean and max per function, and the process's CPU time (user + sys,
#     GNU time) less that of `echo '1 + 1' | livejit`, per function: on a loaded machine the
#     wall-clock numbers include time spent waiting for a core, the CPU time mostly does not.
#  2. file: the same 300 functions and calls in one file; `livejit run FILE` from process start
#     to the first call's result on stdout (all functions are installed before any statement
#     runs). Best of RUNS, with the CPU time of that process.
#
#   bench/define_to_callable.sh   (N=300 functions, RUNS=5, OPT=2: the :opt level of the piped
#                                  part; the file is compiled at the default level; BIN: the
#                                  binary, default target/release/livejit)
#
# Tiers: by default a definition is callable after the fast tier and optimized in the
# background, so "define+call" measures the fast tier while the optimizing tier competes for the
# other core, and the CPU columns include that background work (the file's: as much of it as ran
# before the process exited). LIVEJIT_TIER=opt-now measures the optimizing tier in the
# transaction (the behaviour before tiers); LIVEJIT_TIER=fast the fast tier alone.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${N:-300}
runs=${RUNS:-5}
opt=${OPT:-2}
bin=${BIN:-target/release/livejit}
[ -x "$bin" ] || cargo build --release -q
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Function k: 15 lines, distinct constants so that no two are identical.
gen_fn() {
  local k=$1
  cat <<EOF
fn f$k(x: int) -> int {
    let a = x + $k;
    let b = a * $((k % 7 + 2));
    let c = b - x;
    if c > $((k * 3)) {
        a = a + 1;
    } else {
        a = a - $k;
    }
    let i = 0;
    while i < 10 {
        b = b + i * $k;
        i += 1;
    }
    a + b + c
}
EOF
}

{
  echo ":opt $opt"
  echo "print(0, time_ns());"
  for k in $(seq 1 "$n"); do
    gen_fn "$k"
    echo "print(f$k(3), time_ns());"
  done
} > "$tmp/piped.txt"
cpu() { awk '{ printf "%.0f", ($1 + $2) * 1000 }' "$tmp/cpu"; } # ms of user + sys
echo '1 + 1' > "$tmp/one.txt"
base=""
for _ in $(seq 1 "$runs"); do
  /usr/bin/time -f '%U %S' -o "$tmp/cpu" "$bin" < "$tmp/one.txt" > /dev/null 2>&1
  c=$(cpu)
  if [ -z "$base" ] || [ "$c" -lt "$base" ]; then base=$c; fi
done
/usr/bin/time -f '%U %S' -o "$tmp/cpu" "$bin" < "$tmp/piped.txt" 2>/dev/null > "$tmp/piped.out"
piped_cpu=$(cpu)
[ "$(wc -l < "$tmp/piped.out")" -eq $((n + 1)) ] || { echo "piped run failed" >&2; exit 1; }
awk '{ t = $2; if (NR > 1) print (t - prev) / 1e6; prev = t }' "$tmp/piped.out" | sort -n > "$tmp/d.txt"
awk -v n="$n" -v opt="$opt" -v cpu="$piped_cpu" -v base="$base" '{ d[NR] = $1; s += $1 } END {
  printf "piped (:opt %d): %d functions, define+call per function: median %.2f ms, mean %.2f ms, max %.2f ms; CPU %.2f ms\n",
    opt, n, d[int((NR + 1) / 2)], s / NR, d[NR], (cpu - base) / n }' "$tmp/d.txt"

{
  for k in $(seq 1 "$n"); do
    gen_fn "$k"
    echo "print(f$k(3));"
  done
} > "$tmp/file.src"
best=""
for _ in $(seq 1 "$runs"); do
  start=$(date +%s%N)
  us=$(/usr/bin/time -f '%U %S' -o "$tmp/cpu" "$bin" run "$tmp/file.src" 2>/dev/null |
    { read -r _first; end=$(date +%s%N); cat > /dev/null; echo $(( (end - start) / 1000 )); })
  if [ -z "$best" ] || [ "$us" -lt "$best" ]; then best=$us; best_cpu=$(cpu); fi
done
awk -v us="$best" -v n="$n" -v runs="$runs" -v cpu="$best_cpu" 'BEGIN {
  printf "file: livejit run of %d functions to the first call'"'"'s result: %.1f ms (best of %d), %.2f ms per function; CPU of that run %.0f ms\n",
    n, us / 1000, runs, us / 1000 / n, cpu }'
