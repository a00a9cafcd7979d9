/* Are We Fast Yet: Storage, same algorithm as storage.src: a linked tree of depth 7 (inner
 * nodes: 4 children, leaves: 1 to 10 int slots), every node a fresh allocation, freed when the
 * iteration ends (the original leaves that to its GC). storage.src makes a node a struct plus
 * its children or leaf array (two allocations); this C keeps the original's one allocation. */
#include "common.h"

static int64_t next_rand(int64_t *seed) {
    seed[0] = ((seed[0] * 1309) + 13849) & 65535;
    return seed[0];
}

typedef struct { int64_t len; void *slots[]; } node;

static node *build_tree_depth(int64_t depth, int64_t *seed, int64_t *count) {
    count[0] += 1;
    if (depth == 1) {
        int64_t n = next_rand(seed) % 10 + 1;
        node *leaf = calloc(1, sizeof(node) + n * sizeof(void *));
        leaf->len = -n; /* a leaf: its slots hold no children */
        return leaf;
    }
    node *arr = calloc(1, sizeof(node) + 4 * sizeof(void *));
    arr->len = 4;
    for (int i = 0; i < 4; i++) arr->slots[i] = build_tree_depth(depth - 1, seed, count);
    return arr;
}

static void free_tree(node *n) {
    if (n->len > 0)
        for (int i = 0; i < n->len; i++) free_tree(n->slots[i]);
    free(n);
}

static int64_t benchmark(void) {
    int64_t seed[1] = {74755}, count[1] = {0};
    node *tree = build_tree_depth(7, seed, count);
    free_tree(tree);
    return count[0];
}

int main(void) {
    int64_t t0 = now_ns(), r = 0;
    for (int64_t i = 0; i < 600; i++) {
        r = benchmark();
        CHECK(r == 5461);
    }
    int64_t t1 = now_ns();
    printf("result: %lld\n", (long long)r);
    print_time(t0, t1);
    return 0;
}
