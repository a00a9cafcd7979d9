/* Are We Fast Yet: List, same algorithm and data layout as list.src: one heap object per
 * element, NULL as the end; each iteration's lists are freed after it. */
#include "common.h"

typedef struct Element { int64_t val; struct Element *next; } Element;

static Element *make_list(int64_t length) {
    if (length == 0) return NULL;
    Element *e = malloc(sizeof(Element));
    e->val = length;
    e->next = make_list(length - 1);
    return e;
}

static void free_list(Element *e) {
    while (e) {
        Element *n = e->next;
        free(e);
        e = n;
    }
}

static int64_t list_length(const Element *e) {
    return e->next == NULL ? 1 : 1 + list_length(e->next);
}

static bool is_shorter_than(const Element *x, const Element *y) {
    const Element *x_tail = x, *y_tail = y;
    while (y_tail != NULL) {
        if (x_tail == NULL) return true;
        x_tail = x_tail->next;
        y_tail = y_tail->next;
    }
    return false;
}

static Element *tail(Element *x, Element *y, Element *z) {
    if (is_shorter_than(y, x)) {
        Element *a = tail(x->next, y, z);
        Element *b = tail(y->next, z, x);
        Element *c = tail(z->next, x, y);
        return tail(a, b, c);
    }
    return z;
}

static int64_t benchmark(void) {
    Element *x = make_list(15), *y = make_list(10), *z = make_list(6);
    int64_t r = list_length(tail(x, y, z));
    free_list(x);
    free_list(y);
    free_list(z);
    return r;
}

int main(void) {
    int64_t t0 = now_ns(), r = 0;
    for (int64_t i = 0; i < 6000; i++) {
        r = benchmark();
        CHECK(r == 10);
    }
    int64_t t1 = now_ns();
    printf("result: %lld\n", (long long)r);
    print_time(t0, t1);
    return 0;
}
