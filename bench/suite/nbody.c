/* Are We Fast Yet: NBody, same algorithm and data layout as nbody.src (parallel arrays of body
 * fields, one element per body). */
#include "common.h"

static void advance(int64_t n, double *x, double *y, double *z, double *vx, double *vy, double *vz, double *mass, double dt) {
    for (int64_t i = 0; i < n; i++) {
        for (int64_t j = i + 1; j < n; j++) {
            double dx = x[i] - x[j], dy = y[i] - y[j], dz = z[i] - z[j];
            double d_squared = dx * dx + dy * dy + dz * dz;
            double distance = sqrt(d_squared);
            double mag = dt / (d_squared * distance);
            vx[i] = vx[i] - (dx * mass[j] * mag);
            vy[i] = vy[i] - (dy * mass[j] * mag);
            vz[i] = vz[i] - (dz * mass[j] * mag);
            vx[j] = vx[j] + (dx * mass[i] * mag);
            vy[j] = vy[j] + (dy * mass[i] * mag);
            vz[j] = vz[j] + (dz * mass[i] * mag);
        }
    }
    for (int64_t i = 0; i < n; i++) {
        x[i] = x[i] + dt * vx[i];
        y[i] = y[i] + dt * vy[i];
        z[i] = z[i] + dt * vz[i];
    }
}

static double energy(int64_t n, double *x, double *y, double *z, double *vx, double *vy, double *vz, double *mass) {
    double e = 0.0;
    for (int64_t i = 0; i < n; i++) {
        e += 0.5 * mass[i] * (vx[i] * vx[i] + vy[i] * vy[i] + vz[i] * vz[i]);
        for (int64_t j = i + 1; j < n; j++) {
            double dx = x[i] - x[j], dy = y[i] - y[j], dz = z[i] - z[j];
            double distance = sqrt(dx * dx + dy * dy + dz * dz);
            e -= (mass[i] * mass[j]) / distance;
        }
    }
    return e;
}

static double *arr5(double a, double b, double c, double d, double e) {
    double *p = malloc(5 * sizeof(double));
    p[0] = a; p[1] = b; p[2] = c; p[3] = d; p[4] = e;
    return p;
}

static double run_system(int64_t steps) {
    double pi = 3.141592653589793, solar_mass = 4.0 * pi * pi, dpy = 365.24;
    double *x = arr5(0.0, 4.84143144246472090, 8.34336671824457987, 12.8943695621391310, 15.3796971148509165);
    double *y = arr5(0.0, -1.16032004402742839, 4.12479856412430479, -15.1111514016986312, -25.9193146099879641);
    double *z = arr5(0.0, -0.103622044471123109, -0.403523417114321381, -0.223307578892655734, 0.179258772950371181);
    double *vx = arr5(0.0, 0.00166007664274403694 * dpy, -0.00276742510726862411 * dpy,
                      0.00296460137564761618 * dpy, 0.00268067772490389322 * dpy);
    double *vy = arr5(0.0, 0.00769901118419740425 * dpy, 0.00499852801234917238 * dpy,
                      0.00237847173959480950 * dpy, 0.00162824170038242295 * dpy);
    double *vz = arr5(0.0, -0.0000690460016972063023 * dpy, 0.0000230417297573763929 * dpy,
                      -0.0000296589568540237556 * dpy, -0.0000951592254519715870 * dpy);
    double *mass = arr5(solar_mass, 0.000954791938424326609 * solar_mass, 0.000285885980666130812 * solar_mass,
                        0.0000436624404335156298 * solar_mass, 0.0000515138902046611451 * solar_mass);
    double px = 0.0, py = 0.0, pz = 0.0;
    for (int i = 0; i < 5; i++) {
        px += vx[i] * mass[i];
        py += vy[i] * mass[i];
        pz += vz[i] * mass[i];
    }
    vx[0] = 0.0 - (px / solar_mass);
    vy[0] = 0.0 - (py / solar_mass);
    vz[0] = 0.0 - (pz / solar_mass);
    for (int64_t i = 0; i < steps; i++) advance(5, x, y, z, vx, vy, vz, mass, 0.01);
    double e = energy(5, x, y, z, vx, vy, vz, mass);
    free(x); free(y); free(z); free(vx); free(vy); free(vz); free(mass);
    return e;
}

int main(void) {
    int64_t t0 = now_ns();
    double r = 0.0;
    for (int64_t i = 0; i < 4; i++) {
        r = run_system(250000);
        CHECK(r == -0.1690859889909308);
    }
    int64_t t1 = now_ns();
    printf("result: %.17g\n", r);
    print_time(t0, t1);
    return 0;
}
