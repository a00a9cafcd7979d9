/* Benchmarks Game: fannkuch-redux, the plain C program's algorithm, as in fannkuch.src.
 * Checks the published output for n=7 (checksum 228, max flips 16), then times n=10. */
#include "common.h"

static void fannkuch(int64_t n, int64_t *out) {
    int64_t *perm = calloc(n, sizeof(int64_t)), *perm1 = calloc(n, sizeof(int64_t));
    int64_t *count = calloc(n, sizeof(int64_t));
    int64_t max_flips = 0, perm_count = 0, checksum = 0;
    for (int64_t i = 0; i < n; i++) perm1[i] = i;
    int64_t r = n;
    for (;;) {
        while (r != 1) {
            count[r - 1] = r;
            r -= 1;
        }
        for (int64_t i = 0; i < n; i++) perm[i] = perm1[i];
        int64_t flips = 0, k = perm[0];
        while (k != 0) {
            int64_t k2 = (k + 1) >> 1;
            for (int64_t i = 0; i < k2; i++) {
                int64_t temp = perm[i];
                perm[i] = perm[k - i];
                perm[k - i] = temp;
            }
            flips += 1;
            k = perm[0];
        }
        if (flips > max_flips) max_flips = flips;
        if (perm_count % 2 == 0) checksum += flips; else checksum -= flips;
        for (;;) {
            if (r == n) {
                out[0] = checksum;
                out[1] = max_flips;
                free(perm); free(perm1); free(count);
                return;
            }
            int64_t perm0 = perm1[0];
            for (int64_t i = 0; i < r;) {
                int64_t j = i + 1;
                perm1[i] = perm1[j];
                i = j;
            }
            perm1[r] = perm0;
            count[r] -= 1;
            if (count[r] > 0) break;
            r += 1;
        }
        perm_count += 1;
    }
}

int main(void) {
    int64_t check[2], out[2];
    fannkuch(7, check);
    CHECK(check[0] == 228 && check[1] == 16);
    int64_t t0 = now_ns();
    fannkuch(10, out);
    int64_t t1 = now_ns();
    CHECK(out[0] == 73196 && out[1] == 38);
    printf("result: %lld %lld\n", (long long)out[0], (long long)out[1]);
    print_time(t0, t1);
    return 0;
}
