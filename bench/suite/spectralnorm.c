/* Benchmarks Game: spectral-norm, the plain C program's algorithm, as in spectralnorm.src.
 * Checks the published output for N=100 (1.274219991), then times N=1000. */
#include "common.h"

static double eval_a(int64_t i, int64_t j) { return 1.0 / (double)((i + j) * (i + j + 1) / 2 + i + 1); }

static void eval_a_times_u(int64_t n, const double *u, double *au) {
    for (int64_t i = 0; i < n; i++) {
        au[i] = 0.0;
        for (int64_t j = 0; j < n; j++) au[i] += eval_a(i, j) * u[j];
    }
}

static void eval_at_times_u(int64_t n, const double *u, double *au) {
    for (int64_t i = 0; i < n; i++) {
        au[i] = 0.0;
        for (int64_t j = 0; j < n; j++) au[i] += eval_a(j, i) * u[j];
    }
}

static void eval_ata_times_u(int64_t n, const double *u, double *atau) {
    double *v = calloc(n, sizeof(double));
    eval_a_times_u(n, u, v);
    eval_at_times_u(n, v, atau);
    free(v);
}

static double spectral_norm(int64_t n) {
    double *u = malloc(n * sizeof(double)), *v = calloc(n, sizeof(double));
    for (int64_t i = 0; i < n; i++) u[i] = 1.0;
    for (int i = 0; i < 10; i++) {
        eval_ata_times_u(n, u, v);
        eval_ata_times_u(n, v, u);
    }
    double vbv = 0.0, vv = 0.0;
    for (int64_t i = 0; i < n; i++) {
        vbv += u[i] * v[i];
        vv += v[i] * v[i];
    }
    free(u); free(v);
    return sqrt(vbv / vv);
}

int main(void) {
    double check = spectral_norm(100);
    CHECK(check - 1.274219991 <= 0.0000000005 && 1.274219991 - check <= 0.0000000005);
    int64_t t0 = now_ns();
    double r = spectral_norm(1000);
    int64_t t1 = now_ns();
    printf("result: %.17g\n", r);
    print_time(t0, t1);
    return 0;
}
