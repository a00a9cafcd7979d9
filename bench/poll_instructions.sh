#!/usr/bin/env bash
# What the safepoint polls cost, in instructions: runs a benchmark program under callgrind with
# and without polls (LIVEJIT_NO_POLLS=1) and compares the instructions executed in JIT code.
# Instruction counts do not depend on machine load, unlike the times `cargo bench` reports.
#
#   bench/poll_instructions.sh [PROGRAM.src]     (default: fib(27))
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 1; }
cargo build --release -q
prog="${1:-}"
tmp=$(mktemp -d)
if [ -z "$prog" ]; then
  prog="$tmp/fib27.src"
  printf 'fn fib(n: int) -> int { if n < 2 { n } else { fib(n - 1) + fib(n - 2) } }\nprint(fib(27));\n' > "$prog"
fi
jit_instructions() {
  valgrind --tool=callgrind --smc-check=all-non-file --callgrind-out-file="$tmp/cg.out" \
    target/release/livejit run "$prog" >/dev/null 2>&1
  # JIT code has no symbols: sum every '???' entry (the user functions and top-level units).
  callgrind_annotate "$tmp/cg.out" 2>/dev/null | awk '/\?\?\?:0x/ { gsub(",", "", $1); s += $1 } END { print s }'
}
with=$(jit_instructions)
without=$(LIVEJIT_NO_POLLS=1 jit_instructions)
echo "JIT instructions with polls: $with, without: $without"
awk -v a="$with" -v b="$without" 'BEGIN { printf "poll cost: %+.1f%% instructions\n", (a / b - 1) * 100 }'
rm -rf "$tmp"
