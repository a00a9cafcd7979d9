/* Are We Fast Yet: Sieve, same algorithm as sieve.src (a fresh heap array per iteration, as in
 * the original and in livejit). */
#include "common.h"

static int64_t sieve(bool *flags, int64_t size) {
    int64_t prime_count = 0;
    for (int64_t i = 2; i < size + 1; i++) {
        if (flags[i - 1]) {
            prime_count++;
            for (int64_t k = i + i; k <= size; k += i) flags[k - 1] = false;
        }
    }
    return prime_count;
}

static int64_t benchmark(void) {
    bool *flags = malloc(5000);
    for (int i = 0; i < 5000; i++) flags[i] = true;
    int64_t r = sieve(flags, 5000);
    free(flags);
    return r;
}

int main(void) {
    int64_t t0 = now_ns(), r = 0;
    for (int64_t i = 0; i < 6000; i++) {
        r = benchmark();
        CHECK(r == 669);
    }
    int64_t t1 = now_ns();
    printf("result: %lld\n", (long long)r);
    print_time(t0, t1);
    return 0;
}
