#!/usr/bin/env bash
# Memory per redefinition: pipes `fn g(x: int) -> int { x + K }` followed by a call `g(1);`
# for K = 1..N into `livejit` (release build) and reads its peak RSS (GNU time's %M); the
# difference between N=5000 and N=500, divided by 4,500, is what each redefinition keeps.
# Best (lowest peak) of RUNS runs each.
#
#   bench/redefinition_memory.sh        (RUNS=3)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-3}
bin=target/release/livejit
[ -x "$bin" ] || cargo build --release -q
[ -x /usr/bin/time ] || { echo "needs GNU time (apt-get install time)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
peak_kb() {
  local n=$1 best=""
  for k in $(seq 1 "$n"); do echo "fn g(x: int) -> int { x + $k }"; echo "g(1);"; done > "$tmp/in.txt"
  echo "g(1)" >> "$tmp/in.txt"
  for _ in $(seq 1 "$runs"); do
    out=$(/usr/bin/time -f '%M' -o "$tmp/rss" "$bin" < "$tmp/in.txt" 2>/dev/null)
    [ "$out" = $((n + 1)) ] || { echo "run with $n redefinitions printed $out" >&2; exit 1; }
    kb=$(cat "$tmp/rss")
    if [ -z "$best" ] || [ "$kb" -lt "$best" ]; then best=$kb; fi
  done
  echo "$best"
}
small=$(peak_kb 500)
large=$(peak_kb 5000)
awk -v a="$small" -v b="$large" 'BEGIN {
  printf "peak RSS: %.1f MiB after 500 redefinitions, %.1f MiB after 5,000: %.0f bytes per redefinition\n",
    a / 1024, b / 1024, (b - a) * 1024 / 4500 }'
