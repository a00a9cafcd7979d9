/* Are We Fast Yet: Towers, same algorithm and data layout as towers.src: one heap object per
 * disk linked through `next` (NULL as the end), a Towers object holding the three piles and
 * the moves done; each iteration's disks are freed after it. */
#include "common.h"

typedef struct Disk { int64_t size; struct Disk *next; } Disk;
typedef struct { Disk *piles[3]; int64_t moves_done; } Towers;

static void push_disk(Towers *t, Disk *disk, int64_t pile) {
    Disk *top = t->piles[pile];
    CHECK(!(top != NULL && disk->size >= top->size)); /* Cannot put a big disk on a smaller one */
    disk->next = top;
    t->piles[pile] = disk;
}

static Disk *pop_disk_from(Towers *t, int64_t pile) {
    Disk *top = t->piles[pile];
    CHECK(top != NULL); /* Attempting to remove a disk from an empty pile */
    t->piles[pile] = top->next;
    top->next = NULL;
    return top;
}

static void move_top_disk(Towers *t, int64_t from, int64_t to) {
    push_disk(t, pop_disk_from(t, from), to);
    t->moves_done += 1;
}

static void build_tower_at(Towers *t, int64_t pile, int64_t disks) {
    for (int64_t i = disks; i >= 0; i--) {
        Disk *d = malloc(sizeof(Disk));
        d->size = i;
        d->next = NULL;
        push_disk(t, d, pile);
    }
}

static void move_disks(Towers *t, int64_t disks, int64_t from, int64_t to) {
    if (disks == 1) {
        move_top_disk(t, from, to);
    } else {
        int64_t other = (3 - from) - to;
        move_disks(t, disks - 1, from, other);
        move_top_disk(t, from, to);
        move_disks(t, disks - 1, other, to);
    }
}

static int64_t benchmark(void) {
    Towers *t = calloc(1, sizeof(Towers));
    build_tower_at(t, 0, 13);
    t->moves_done = 0;
    move_disks(t, 13, 0, 1);
    int64_t r = t->moves_done;
    for (int p = 0; p < 3; p++) {
        Disk *d = t->piles[p];
        while (d) {
            Disk *n = d->next;
            free(d);
            d = n;
        }
    }
    free(t);
    return r;
}

int main(void) {
    int64_t t0 = now_ns(), r = 0;
    for (int64_t i = 0; i < 1500; i++) {
        r = benchmark();
        CHECK(r == 8191);
    }
    int64_t t1 = now_ns();
    printf("result: %lld\n", (long long)r);
    print_time(t0, t1);
    return 0;
}
