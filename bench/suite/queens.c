/* Are We Fast Yet: Queens, same algorithm as queens.src (the arrays are heap-allocated for
 * every solve, as in the original and in livejit). */
#include "common.h"

static bool get_row_column(int64_t r, int64_t c, bool *free_rows, bool *free_maxs, bool *free_mins) {
    return free_rows[r] && free_maxs[c + r] && free_mins[c - r + 7];
}

static void set_row_column(int64_t r, int64_t c, bool v, bool *free_rows, bool *free_maxs, bool *free_mins) {
    free_rows[r] = v;
    free_maxs[c + r] = v;
    free_mins[c - r + 7] = v;
}

static bool place_queen(int64_t c, bool *free_rows, bool *free_maxs, bool *free_mins, int64_t *queen_rows) {
    for (int64_t r = 0; r < 8; r++) {
        if (get_row_column(r, c, free_rows, free_maxs, free_mins)) {
            queen_rows[r] = c;
            set_row_column(r, c, false, free_rows, free_maxs, free_mins);
            if (c == 7) return true;
            if (place_queen(c + 1, free_rows, free_maxs, free_mins, queen_rows)) return true;
            set_row_column(r, c, true, free_rows, free_maxs, free_mins);
        }
    }
    return false;
}

static bool queens(void) {
    bool *free_rows = malloc(8), *free_maxs = malloc(16), *free_mins = malloc(16);
    int64_t *queen_rows = malloc(8 * sizeof(int64_t));
    for (int i = 0; i < 8; i++) { free_rows[i] = true; queen_rows[i] = -1; }
    for (int i = 0; i < 16; i++) { free_maxs[i] = true; free_mins[i] = true; }
    bool r = place_queen(0, free_rows, free_maxs, free_mins, queen_rows);
    free(free_rows); free(free_maxs); free(free_mins); free(queen_rows);
    return r;
}

static bool benchmark(void) {
    bool result = true;
    for (int i = 0; i < 10; i++) result = result && queens();
    return result;
}

int main(void) {
    int64_t t0 = now_ns();
    bool r = false;
    for (int64_t i = 0; i < 3000; i++) {
        r = benchmark();
        CHECK(r);
    }
    int64_t t1 = now_ns();
    printf("result: %s\n", r ? "true" : "false");
    print_time(t0, t1);
    return 0;
}
