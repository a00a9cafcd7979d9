/* Are We Fast Yet: Bounce, same algorithm and data layout as bounce.src: a Random object and
 * one heap object per ball, held in an array of pointers, all fresh in each iteration. */
#include "common.h"

typedef struct { int64_t seed; } Random;
typedef struct { int64_t x, y, x_vel, y_vel; } Ball;

static int64_t next_rand(Random *r) {
    r->seed = ((r->seed * 1309) + 13849) & 65535;
    return r->seed;
}

static int64_t iabs(int64_t v) { return v < 0 ? 0 - v : v; }

static Ball *new_ball(Random *r) {
    Ball *b = malloc(sizeof(Ball));
    b->x = next_rand(r) % 500;
    b->y = next_rand(r) % 500;
    b->x_vel = (next_rand(r) % 300) - 150;
    b->y_vel = (next_rand(r) % 300) - 150;
    return b;
}

static bool bounce(Ball *b) {
    int64_t x_limit = 500, y_limit = 500;
    bool bounced = false;
    b->x += b->x_vel;
    b->y += b->y_vel;
    if (b->x > x_limit) { b->x = x_limit; b->x_vel = 0 - iabs(b->x_vel); bounced = true; }
    if (b->x < 0) { b->x = 0; b->x_vel = iabs(b->x_vel); bounced = true; }
    if (b->y > y_limit) { b->y = y_limit; b->y_vel = 0 - iabs(b->y_vel); bounced = true; }
    if (b->y < 0) { b->y = 0; b->y_vel = iabs(b->y_vel); bounced = true; }
    return bounced;
}

static int64_t benchmark(void) {
    Random *random = malloc(sizeof(Random));
    random->seed = 74755;
    int64_t ball_count = 100, bounces = 0;
    Ball **balls = malloc(ball_count * sizeof(Ball *));
    for (int64_t b = 0; b < ball_count; b++) balls[b] = new_ball(random);
    for (int64_t i = 1; i < 51; i++)
        for (int64_t b = 0; b < ball_count; b++)
            if (bounce(balls[b])) bounces++;
    for (int64_t b = 0; b < ball_count; b++) free(balls[b]);
    free(balls);
    free(random);
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
