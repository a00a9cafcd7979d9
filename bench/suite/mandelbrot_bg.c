/* Benchmarks Game: mandelbrot, the plain C program's algorithm, as in mandelbrot_bg.src: the
 * bitmap's bytes are hashed (h = h * 31 + byte, wrapping). With an argument N it writes the
 * N-by-N PBM to stdout instead, for `cmp` with the Benchmarks Game's published output for
 * N=200: `mandelbrot_bg 200 | md5sum` gives cc65e64bd553ed18896de1dfe7fae3e5, the md5 of that file.
 * The hash of those bytes, -8535702142402379851, is checked before the timed run (N=1600). */
#include "common.h"

static int64_t mandelbrot(int64_t n, uint8_t *bytes) {
    int64_t w = n, h = n, iter = 50, bit_num = 0, byte_acc = 0, nbytes = 0;
    double limit = 2.0;
    for (int64_t y = 0; y < h; y++) {
        for (int64_t x = 0; x < w; x++) {
            double zr = 0.0, zi = 0.0, tr = 0.0, ti = 0.0;
            double cr = 2.0 * (double)x / (double)w - 1.5;
            double ci = 2.0 * (double)y / (double)h - 1.0;
            for (int64_t i = 0; i < iter && tr + ti <= limit * limit; i++) {
                zi = 2.0 * zr * zi + ci;
                zr = tr - ti + cr;
                tr = zr * zr;
                ti = zi * zi;
            }
            byte_acc <<= 1;
            if (tr + ti <= limit * limit) byte_acc |= 1;
            bit_num += 1;
            if (bit_num == 8) {
                bytes[nbytes++] = (uint8_t)byte_acc;
                byte_acc = 0;
                bit_num = 0;
            } else if (x == w - 1) {
                byte_acc <<= (8 - w % 8);
                bytes[nbytes++] = (uint8_t)byte_acc;
                byte_acc = 0;
                bit_num = 0;
            }
        }
    }
    return nbytes;
}

static int64_t run(int64_t n) {
    uint8_t *bytes = malloc((n + 7) / 8 * n);
    int64_t nbytes = mandelbrot(n, bytes);
    uint64_t hash = 17;
    for (int64_t i = 0; i < nbytes; i++) hash = hash * 31 + bytes[i];
    free(bytes);
    return (int64_t)hash;
}

int main(int argc, char **argv) {
    if (argc > 1) {
        int64_t n = atoll(argv[1]);
        uint8_t *bytes = malloc((n + 7) / 8 * n);
        int64_t nbytes = mandelbrot(n, bytes);
        printf("P4\n%lld %lld\n", (long long)n, (long long)n);
        fwrite(bytes, 1, nbytes, stdout);
        return 0;
    }
    CHECK(run(200) == -8535702142402379851LL);
    int64_t t0 = now_ns();
    int64_t r = run(1600);
    int64_t t1 = now_ns();
    printf("result: %lld\n", (long long)r);
    print_time(t0, t1);
    return 0;
}
