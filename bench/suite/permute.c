/* Are We Fast Yet: Permute, same algorithm as permute.src. */
#include "common.h"

static void swap(int64_t *v, int64_t i, int64_t j) {
    int64_t tmp = v[i];
    v[i] = v[j];
    v[j] = tmp;
}

static int64_t permute(int64_t *v, int64_t n) {
    int64_t count = 1;
    if (n != 0) {
        int64_t n1 = n - 1;
        count += permute(v, n1);
        for (int64_t i = n1; i >= 0; i--) {
            swap(v, n1, i);
            count += permute(v, n1);
            swap(v, n1, i);
        }
    }
    return count;
}

static int64_t benchmark(void) {
    int64_t *v = calloc(6, sizeof(int64_t));
    int64_t r = permute(v, 6);
    free(v);
    return r;
}

int main(void) {
    int64_t t0 = now_ns(), r = 0;
    for (int64_t i = 0; i < 4000; i++) {
        r = benchmark();
        CHECK(r == 8660);
    }
    int64_t t1 = now_ns();
    printf("result: %lld\n", (long long)r);
    print_time(t0, t1);
    return 0;
}
