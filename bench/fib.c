// Benchmark baseline for bench/fib.src: naive recursive fib(32), timed around the call only.
// Output format matches the .src version: `result: N` then `time_ms: X`.
#include <stdint.h>
#include <stdio.h>
#include <time.h>

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

__attribute__((noinline)) int64_t fib(int64_t n) {
    return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

int main(void) {
    volatile int64_t arg = 32; // keep clang from evaluating fib(32) at compile time
    int64_t t0 = now_ns();
    int64_t r = fib(arg);
    int64_t t1 = now_ns();
    printf("result: %lld\n", (long long)r);
    printf("time_ms: %.3f\n", (double)(t1 - t0) / 1e6);
    return 0;
}
