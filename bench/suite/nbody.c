/* Are We Fast Yet: NBody, same algorithm and data layout as nbody.src: one heap object per
 * body, the system an array of pointers to them; 250,000 steps, four times;
 * verifyResult: energy == -0.1690859889909308 exactly. */
#include "common.h"

typedef struct { double x, y, z, vx, vy, vz, mass; } Body;

static void advance(int64_t n, Body **bodies, double dt) {
    for (int64_t i = 0; i < n; i++) {
        Body *ib = bodies[i];
        for (int64_t j = i + 1; j < n; j++) {
            Body *jb = bodies[j];
            double dx = ib->x - jb->x, dy = ib->y - jb->y, dz = ib->z - jb->z;
            double d_squared = dx * dx + dy * dy + dz * dz;
            double distance = sqrt(d_squared);
            double mag = dt / (d_squared * distance);
            ib->vx = ib->vx - (dx * jb->mass * mag);
            ib->vy = ib->vy - (dy * jb->mass * mag);
            ib->vz = ib->vz - (dz * jb->mass * mag);
            jb->vx = jb->vx + (dx * ib->mass * mag);
            jb->vy = jb->vy + (dy * ib->mass * mag);
            jb->vz = jb->vz + (dz * ib->mass * mag);
        }
    }
    for (int64_t i = 0; i < n; i++) {
        Body *b = bodies[i];
        b->x = b->x + dt * b->vx;
        b->y = b->y + dt * b->vy;
        b->z = b->z + dt * b->vz;
    }
}

static double energy(int64_t n, Body **bodies) {
    double e = 0.0;
    for (int64_t i = 0; i < n; i++) {
        Body *ib = bodies[i];
        e += 0.5 * ib->mass * (ib->vx * ib->vx + ib->vy * ib->vy + ib->vz * ib->vz);
        for (int64_t j = i + 1; j < n; j++) {
            Body *jb = bodies[j];
            double dx = ib->x - jb->x, dy = ib->y - jb->y, dz = ib->z - jb->z;
            double distance = sqrt(dx * dx + dy * dy + dz * dz);
            e -= (ib->mass * jb->mass) / distance;
        }
    }
    return e;
}

static Body *body(double x, double y, double z, double vx, double vy, double vz, double mass) {
    double pi = 3.141592653589793, solar_mass = 4.0 * pi * pi, dpy = 365.24;
    Body *b = malloc(sizeof(Body));
    b->x = x; b->y = y; b->z = z;
    b->vx = vx * dpy; b->vy = vy * dpy; b->vz = vz * dpy;
    b->mass = mass * solar_mass;
    return b;
}

static double run_system(int64_t steps) {
    double pi = 3.141592653589793, solar_mass = 4.0 * pi * pi;
    Body *bodies[5] = {
        body(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0),
        body(4.84143144246472090, -1.16032004402742839, -0.103622044471123109,
             0.00166007664274403694, 0.00769901118419740425, -0.0000690460016972063023,
             0.000954791938424326609),
        body(8.34336671824457987, 4.12479856412430479, -0.403523417114321381,
             -0.00276742510726862411, 0.00499852801234917238, 0.0000230417297573763929,
             0.000285885980666130812),
        body(12.8943695621391310, -15.1111514016986312, -0.223307578892655734,
             0.00296460137564761618, 0.00237847173959480950, -0.0000296589568540237556,
             0.0000436624404335156298),
        body(15.3796971148509165, -25.9193146099879641, 0.179258772950371181,
             0.00268067772490389322, 0.00162824170038242295, -0.0000951592254519715870,
             0.0000515138902046611451),
    };
    double px = 0.0, py = 0.0, pz = 0.0;
    for (int i = 0; i < 5; i++) {
        px += bodies[i]->vx * bodies[i]->mass;
        py += bodies[i]->vy * bodies[i]->mass;
        pz += bodies[i]->vz * bodies[i]->mass;
    }
    bodies[0]->vx = 0.0 - (px / solar_mass);
    bodies[0]->vy = 0.0 - (py / solar_mass);
    bodies[0]->vz = 0.0 - (pz / solar_mass);
    for (int64_t i = 0; i < steps; i++) advance(5, bodies, 0.01);
    double e = energy(5, bodies);
    for (int i = 0; i < 5; i++) free(bodies[i]);
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
