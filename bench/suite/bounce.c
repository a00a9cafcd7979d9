/* Are We Fast Yet: Bounce, same algorithm and data layout as bounce.src (parallel arrays of
 * ball fields; the Random object is a one-element array holding the seed). */
#include "common.h"

static int64_t next_rand(int64_t *seed) {
    seed[0] = ((seed[0] * 1309) + 13849) & 65535;
    return seed[0];
}

static int64_t iabs(int64_t v) { return v < 0 ? 0 - v : v; }

static bool bounce(int64_t *x, int64_t *y, int64_t *xv, int64_t *yv, int64_t b) {
    int64_t x_limit = 500, y_limit = 500;
    bool bounced = false;
    x[b] += xv[b];
    y[b] += yv[b];
    if (x[b] > x_limit) { x[b] = x_limit; xv[b] = 0 - iabs(xv[b]); bounced = true; }
    if (x[b] < 0) { x[b] = 0; xv[b] = iabs(xv[b]); bounced = true; }
    if (y[b] > y_limit) { y[b] = y_limit; yv[b] = 0 - iabs(yv[b]); bounced = true; }
    if (y[b] < 0) { y[b] = 0; yv[b] = iabs(yv[b]); bounced = true; }
    return bounced;
}

static int64_t benchmark(void) {
    int64_t seed[1] = {74755};
    int64_t ball_count = 100, bounces = 0;
    int64_t *x = calloc(ball_count, sizeof(int64_t));
    int64_t *y = calloc(ball_count, sizeof(int64_t));
    int64_t *xv = calloc(ball_count, sizeof(int64_t));
    int64_t *yv = calloc(ball_count, sizeof(int64_t));
    for (int64_t b = 0; b < ball_count; b++) {
        x[b] = next_rand(seed) % 500;
        y[b] = next_rand(seed) % 500;
        xv[b] = (next_rand(seed) % 300) - 150;
        yv[b] = (next_rand(seed) % 300) - 150;
    }
    for (int64_t i = 1; i < 51; i++)
        for (int64_t b = 0; b < ball_count; b++)
            if (bounce(x, y, xv, yv, b)) bounces++;
    free(x); free(y); free(xv); free(yv);
    return bounces;
}

int main(void) {
    int64_t t0 = now_ns(), r = 0;
    for (int64_t i = 0; i < 4000; i++) {
        r = benchmark();
        CHECK(r == 1331);
    }
    int64_t t1 = now_ns();
    printf("result: %lld\n", (long long)r);
    print_time(t0, t1);
    return 0;
}
