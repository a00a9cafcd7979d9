/* Are We Fast Yet: Mandelbrot, same algorithm as mandelbrot.src. */
#include "common.h"

static int64_t mandelbrot(int64_t size) {
    int64_t sum = 0, byte_acc = 0, bit_num = 0;
    for (int64_t y = 0; y < size; y++) {
        double ci = (2.0 * (double)y / (double)size) - 1.0;
        for (int64_t x = 0; x < size; x++) {
            double zr = 0.0, zrzr = 0.0, zi = 0.0, zizi = 0.0;
            double cr = (2.0 * (double)x / (double)size) - 1.5;
            int64_t z = 0, escape = 0;
            bool not_done = true;
            while (not_done && z < 50) {
                zr = zrzr - zizi + cr;
                zi = 2.0 * zr * zi + ci;
                zrzr = zr * zr;
                zizi = zi * zi;
                if (zrzr + zizi > 4.0) {
                    not_done = false;
                    escape = 1;
                }
                z += 1;
            }
            byte_acc = (byte_acc << 1) + escape;
            bit_num += 1;
            if (bit_num == 8) {
                sum ^= byte_acc;
                byte_acc = 0;
                bit_num = 0;
            } else if (x == size - 1) {
                byte_acc <<= (8 - bit_num);
                sum ^= byte_acc;
                byte_acc = 0;
                bit_num = 0;
            }
        }
    }
    return sum;
}

int main(void) {
    int64_t t0 = now_ns(), r = 0;
    for (int64_t i = 0; i < 5; i++) {
        r = mandelbrot(500);
        CHECK(r == 191);
    }
    int64_t t1 = now_ns();
    printf("result: %lld\n", (long long)r);
    print_time(t0, t1);
    return 0;
}
