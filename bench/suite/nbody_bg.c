/* Benchmarks Game: n-body, the plain C program's algorithm and layout (an array of planet
 * structs), as in nbody_bg.src. Checks the published output for 1,000 steps (-0.169075164,
 * -0.169087605), then times 2,000,000 steps. */
#include "common.h"

struct planet { double x, y, z, vx, vy, vz, mass; };

static void advance(struct planet *bodies, int nbodies, double dt) {
    for (int i = 0; i < nbodies; i++) {
        struct planet *b = &bodies[i];
        for (int j = i + 1; j < nbodies; j++) {
            struct planet *b2 = &bodies[j];
            double dx = b->x - b2->x, dy = b->y - b2->y, dz = b->z - b2->z;
            double distance = sqrt(dx * dx + dy * dy + dz * dz);
            double mag = dt / (distance * distance * distance);
            b->vx -= dx * b2->mass * mag;
            b->vy -= dy * b2->mass * mag;
            b->vz -= dz * b2->mass * mag;
            b2->vx += dx * b->mass * mag;
            b2->vy += dy * b->mass * mag;
            b2->vz += dz * b->mass * mag;
        }
    }
    for (int i = 0; i < nbodies; i++) {
        struct planet *b = &bodies[i];
        b->x += dt * b->vx;
        b->y += dt * b->vy;
        b->z += dt * b->vz;
    }
}

static double energy(struct planet *bodies, int nbodies) {
    double e = 0.0;
    for (int i = 0; i < nbodies; i++) {
        struct planet *b = &bodies[i];
        e += 0.5 * b->mass * (b->vx * b->vx + b->vy * b->vy + b->vz * b->vz);
        for (int j = i + 1; j < nbodies; j++) {
            struct planet *b2 = &bodies[j];
            double dx = b->x - b2->x, dy = b->y - b2->y, dz = b->z - b2->z;
            double distance = sqrt(dx * dx + dy * dy + dz * dz);
            e -= (b->mass * b2->mass) / distance;
        }
    }
    return e;
}

static void offset_momentum(struct planet *bodies, int nbodies, double solar_mass) {
    double px = 0.0, py = 0.0, pz = 0.0;
    for (int i = 0; i < nbodies; i++) {
        px += bodies[i].vx * bodies[i].mass;
        py += bodies[i].vy * bodies[i].mass;
        pz += bodies[i].vz * bodies[i].mass;
    }
    bodies[0].vx = -px / solar_mass;
    bodies[0].vy = -py / solar_mass;
    bodies[0].vz = -pz / solar_mass;
}

static void nbody(int64_t steps, double *out) {
    double pi = 3.141592653589793, solar_mass = 4.0 * pi * pi, dpy = 365.24;
    struct planet init[5] = {
        {0, 0, 0, 0, 0, 0, solar_mass},
        {4.84143144246472090, -1.16032004402742839, -0.103622044471123109,
         0.00166007664274403694 * dpy, 0.00769901118419740425 * dpy, -0.0000690460016972063023 * dpy,
         0.000954791938424326609 * solar_mass},
        {8.34336671824457987, 4.12479856412430479, -0.403523417114321381,
         -0.00276742510726862411 * dpy, 0.00499852801234917238 * dpy, 0.0000230417297573763929 * dpy,
         0.000285885980666130812 * solar_mass},
        {12.8943695621391310, -15.1111514016986312, -0.223307578892655734,
         0.00296460137564761618 * dpy, 0.00237847173959480950 * dpy, -0.0000296589568540237556 * dpy,
         0.0000436624404335156298 * solar_mass},
        {15.3796971148509165, -25.9193146099879641, 0.179258772950371181,
         0.00268067772490389322 * dpy, 0.00162824170038242295 * dpy, -0.0000951592254519715870 * dpy,
         0.0000515138902046611451 * solar_mass},
    };
    struct planet *bodies = malloc(sizeof init);
    memcpy(bodies, init, sizeof init);
    offset_momentum(bodies, 5, solar_mass);
    out[0] = energy(bodies, 5);
    for (int64_t i = 0; i < steps; i++) advance(bodies, 5, 0.01);
    out[1] = energy(bodies, 5);
    free(bodies);
}

static bool same9(double a, double b) { return a - b <= 0.0000000005 && b - a <= 0.0000000005; }

int main(void) {
    double check[2], out[2];
    nbody(1000, check);
    CHECK(same9(check[0], -0.169075164));
    CHECK(same9(check[1], -0.169087605));
    int64_t t0 = now_ns();
    nbody(2000000, out);
    int64_t t1 = now_ns();
    printf("result: %.17g %.17g\n", out[0], out[1]);
    print_time(t0, t1);
    return 0;
}
