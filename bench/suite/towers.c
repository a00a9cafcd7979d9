/* Are We Fast Yet: Towers, same algorithm and data layout as towers.src (an index pool: the
 * arrays size/next, -1 as null; piles hold top-disk indices; st[0] the bump counter, st[1] the
 * moves done). */
#include "common.h"

static void push_disk(int64_t *size, int64_t *next, int64_t *piles, int64_t disk, int64_t pile) {
    int64_t top = piles[pile];
    CHECK(!(top != -1 && size[disk] >= size[top])); /* Cannot put a big disk on a smaller one */
    next[disk] = top;
    piles[pile] = disk;
}

static int64_t pop_disk_from(int64_t *next, int64_t *piles, int64_t pile) {
    int64_t top = piles[pile];
    CHECK(top != -1); /* Attempting to remove a disk from an empty pile */
    piles[pile] = next[top];
    next[top] = -1;
    return top;
}

static void move_top_disk(int64_t *size, int64_t *next, int64_t *piles, int64_t *st, int64_t from, int64_t to) {
    push_disk(size, next, piles, pop_disk_from(next, piles, from), to);
    st[1] += 1;
}

static void build_tower_at(int64_t *size, int64_t *next, int64_t *piles, int64_t *st, int64_t pile, int64_t disks) {
    for (int64_t i = disks; i >= 0; i--) {
        int64_t d = st[0];
        st[0] += 1;
        size[d] = i;
        next[d] = -1;
        push_disk(size, next, piles, d, pile);
    }
}

static void move_disks(int64_t *size, int64_t *next, int64_t *piles, int64_t *st, int64_t disks, int64_t from, int64_t to) {
    if (disks == 1) {
        move_top_disk(size, next, piles, st, from, to);
    } else {
        int64_t other = (3 - from) - to;
        move_disks(size, next, piles, st, disks - 1, from, other);
        move_top_disk(size, next, piles, st, from, to);
        move_disks(size, next, piles, st, disks - 1, other, to);
    }
}

static int64_t benchmark(int64_t *size, int64_t *next, int64_t *piles, int64_t *st) {
    st[0] = 0;
    piles[0] = piles[1] = piles[2] = -1;
    build_tower_at(size, next, piles, st, 0, 13);
    st[1] = 0;
    move_disks(size, next, piles, st, 13, 0, 1);
    return st[1];
}

int main(void) {
    int64_t *size = calloc(14, sizeof(int64_t)), *next = malloc(14 * sizeof(int64_t));
    int64_t *piles = malloc(3 * sizeof(int64_t)), *st = calloc(2, sizeof(int64_t));
    for (int i = 0; i < 14; i++) next[i] = -1;
    int64_t t0 = now_ns(), r = 0;
    for (int64_t i = 0; i < 1500; i++) {
        r = benchmark(size, next, piles, st);
        CHECK(r == 8191);
    }
    int64_t t1 = now_ns();
    printf("result: %lld\n", (long long)r);
    print_time(t0, t1);
    return 0;
}
