/* Are We Fast Yet: List, same algorithm and data layout as list.src (an index pool: val/next
 * arrays, -1 as null, bump-allocated and reset each inner iteration). */
#include "common.h"

static int64_t make_list(int64_t *val, int64_t *next, int64_t *top, int64_t length) {
    if (length == 0) return -1;
    int64_t e = top[0];
    top[0] += 1;
    val[e] = length;
    next[e] = make_list(val, next, top, length - 1);
    return e;
}

static int64_t list_length(const int64_t *next, int64_t e) {
    return next[e] == -1 ? 1 : 1 + list_length(next, next[e]);
}

static bool is_shorter_than(const int64_t *next, int64_t x, int64_t y) {
    int64_t x_tail = x, y_tail = y;
    while (y_tail != -1) {
        if (x_tail == -1) return true;
        x_tail = next[x_tail];
        y_tail = next[y_tail];
    }
    return false;
}

static int64_t tail(const int64_t *next, int64_t x, int64_t y, int64_t z) {
    if (is_shorter_than(next, y, x)) {
        int64_t a = tail(next, next[x], y, z);
        int64_t b = tail(next, next[y], z, x);
        int64_t c = tail(next, next[z], x, y);
        return tail(next, a, b, c);
    }
    return z;
}

static int64_t benchmark(int64_t *val, int64_t *next, int64_t *top) {
    top[0] = 0;
    int64_t x = make_list(val, next, top, 15);
    int64_t y = make_list(val, next, top, 10);
    int64_t z = make_list(val, next, top, 6);
    return list_length(next, tail(next, x, y, z));
}

int main(void) {
    int64_t *val = calloc(31, sizeof(int64_t)), *next = malloc(31 * sizeof(int64_t)), top[1] = {0};
    for (int i = 0; i < 31; i++) next[i] = -1;
    int64_t t0 = now_ns(), r = 0;
    for (int64_t i = 0; i < 6000; i++) {
        r = benchmark(val, next, top);
        CHECK(r == 10);
    }
    int64_t t1 = now_ns();
    printf("result: %lld\n", (long long)r);
    print_time(t0, t1);
    return 0;
}
