// Benchmark baseline for bench/msort.src: top-down merge sort of 1,000,000 pseudo-random
// ints from the same LCG (so the checksum matches), timing only the sort.
// Output format matches the .src version: `checksum: N` then `time_ms: X`.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t lcg_state = 42;

static int64_t lcg_next(void) {
    lcg_state = lcg_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (int64_t)((lcg_state >> 33) & 2147483647);
}

static void merge_rec(int64_t *xs, int64_t *tmp, int64_t lo, int64_t hi) {
    if (hi - lo < 2) return;
    int64_t mid = lo + (hi - lo) / 2;
    merge_rec(xs, tmp, lo, mid);
    merge_rec(xs, tmp, mid, hi);
    int64_t i = lo, j = mid;
    for (int64_t k = lo; k < hi; k++) {
        if (j >= hi || (i < mid && xs[i] <= xs[j])) tmp[k] = xs[i++];
        else tmp[k] = xs[j++];
    }
    for (int64_t k = lo; k < hi; k++) xs[k] = tmp[k];
}

static void merge_sort(int64_t *xs, int64_t n) {
    int64_t *tmp = calloc((size_t)n, sizeof *tmp); // like `[0; len(xs)]`, inside the timing
    merge_rec(xs, tmp, 0, n);
    free(tmp);
}

int main(void) {
    const int64_t n = 1000000;
    int64_t *data = malloc((size_t)n * sizeof *data);
    for (int64_t i = 0; i < n; i++) data[i] = lcg_next();
    int64_t t0 = now_ns();
    merge_sort(data, n);
    int64_t t1 = now_ns();
    for (int64_t i = 1; i < n; i++) {
        if (data[i - 1] > data[i]) { fprintf(stderr, "not sorted\n"); return 1; }
    }
    uint64_t h = 17;
    for (int64_t i = 0; i < n; i++) h = h * 31 + (uint64_t)data[i];
    printf("checksum: %lld\n", (long long)(int64_t)h);
    printf("time_ms: %.3f\n", (double)(t1 - t0) / 1e6);
    free(data);
    return 0;
}
