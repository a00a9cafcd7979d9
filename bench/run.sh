#!/usr/bin/env bash
# Benchmarks livejit against clang -O2 C on the same algorithms.
#
#   bench/run.sh [N]        N runs of each program (default 5, or $N); the best time counts
#
# Each program times its own kernel and prints `time_ms: X` as its last line; the other lines
# (result / checksum) must agree between the C and the livejit version.
# Environment:
#   LIVEJIT=path   use this binary instead of building target/release/livejit
#   CC=compiler    use this C compiler instead of clang-19 / clang / cc
set -euo pipefail

cd "$(dirname "$0")/.."
runs="${1:-${N:-5}}"
out=bench/out
mkdir -p "$out"

if [[ -z "${CC:-}" ]]; then
    for c in clang-19 clang cc; do
        if command -v "$c" >/dev/null 2>&1; then
            CC="$c"
            break
        fi
    done
fi
if [[ -z "${CC:-}" ]]; then
    echo "no C compiler found (tried clang-19, clang, cc)" >&2
    exit 1
fi

if [[ -z "${LIVEJIT:-}" ]]; then
    cargo build --release -q
    LIVEJIT="${CARGO_TARGET_DIR:-target}/release/livejit"
fi

benches=(fib msort)

# best_of CMD...: runs CMD $runs times; prints the best time_ms, and leaves the non-timing
# output of the last run in $out/last_result.
best_of() {
    local best="" output t
    for ((i = 0; i < runs; i++)); do
        if ! output="$("$@")"; then
            echo "failed: $*" >&2
            echo "$output" >&2
            return 1
        fi
        t="$(printf '%s\n' "$output" | sed -n 's/^time_ms:[[:space:]]*//p' | tail -n 1)"
        if [[ -z "$t" ]]; then
            echo "no 'time_ms:' line in the output of: $*" >&2
            printf '%s\n' "$output" >&2
            return 1
        fi
        best="$(awk -v a="$best" -v b="$t" 'BEGIN { if (a == "" || b + 0 < a + 0) print b; else print a }')"
    done
    printf '%s\n' "$output" | grep -v '^time_ms:' >"$out/last_result" || true
    echo "$best"
}

rows=()
status=0
for name in "${benches[@]}"; do
    "$CC" -O2 -o "$out/$name" "bench/$name.c"
    c_ms="$(best_of "$out/$name")"
    cp "$out/last_result" "$out/$name.c.result"
    lj_ms="$(best_of "$LIVEJIT" run "bench/$name.src")"
    cp "$out/last_result" "$out/$name.src.result"
    if ! cmp -s "$out/$name.c.result" "$out/$name.src.result"; then
        echo "warning: $name: results differ between C and livejit:" >&2
        diff "$out/$name.c.result" "$out/$name.src.result" >&2 || true
        status=1
    fi
    ratio="$(awk -v a="$lj_ms" -v b="$c_ms" 'BEGIN { if (b + 0 > 0) printf "%.2f", a / b; else print "n/a" }')"
    rows+=("$name|$lj_ms|$c_ms|$ratio")
done

echo "best of $runs runs ($CC -O2 vs $LIVEJIT)"
printf '%-8s | %12s | %10s | %6s\n' name "livejit ms" "C ms" ratio
printf '%-8s-+-%12s-+-%10s-+-%6s\n' -------- ------------ ---------- ------
for row in "${rows[@]}"; do
    IFS='|' read -r name lj c ratio <<<"$row"
    printf '%-8s | %12.2f | %10.2f | %6s\n' "$name" "$lj" "$c" "$ratio"
done
exit "$status"
