/* Shared by the C baselines of the benchmark suite (bench/suite/NAME.c): a monotonic clock and
 * the check every program makes against its published verification value. */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>
#include <math.h>
#include <time.h>

static inline int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "verification failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__);  \
            exit(1);                                                                           \
        }                                                                                      \
    } while (0)

static inline void print_time(int64_t t0, int64_t t1) {
    printf("time_ms: %.3f\n", (double)(t1 - t0) / 1e6);
}
