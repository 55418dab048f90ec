/* core: thread pool, parallel_for, cpu/memory probes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/core.h"

static void add_one(void *arg)
{
    __atomic_fetch_add((int *)arg, 1, __ATOMIC_RELAXED);
}

static void test_pool_runs_every_submitted_task(void **state)
{
    lh_pool *p = lh_pool_new(4);
    assert_non_null(p);
    assert_int_equal(lh_pool_size(p), 4);
    int counter = 0;
    for (int i = 0; i < 10000; i++)
        lh_pool_submit(p, add_one, &counter);
    lh_pool_wait(p);
    assert_int_equal(counter, 10000);
    for (int i = 0; i < 100; i++)
        lh_pool_submit(p, add_one, &counter);
    lh_pool_free(p); /* drains the queue first */
    assert_int_equal(counter, 10100);
    lh_pool_free(NULL);
}

static void square(void *arg, size_t i)
{
    int64_t *out = arg;
    out[i] = (int64_t)i * (int64_t)i;
}

static void test_pool_parallel_for_covers_each_index_once(void **state)
{
    lh_pool *p = lh_pool_new(0);
    assert_true(lh_pool_size(p) >= 1);
    size_t n = 100003;
    int64_t *out = calloc(n, sizeof *out);
    for (size_t i = 0; i < n; i++)
        out[i] = -1;
    lh_pool_parallel_for(p, n, square, out);
    for (size_t i = 0; i < n; i++)
        assert_true(out[i] == (int64_t)i * (int64_t)i);
    lh_pool_parallel_for(p, 0, square, out);
    out[0] = -1;
    lh_pool_parallel_for(p, 1, square, out);
    assert_true(out[0] == 0);
    lh_pool_parallel_for(NULL, 10, square, out); /* no pool: runs inline */
    assert_true(out[9] == 81);
    free(out);
    lh_pool_free(p);
}

typedef struct {
    lh_pool *p;
    int64_t *cells; /* 8 x 100 */
} nested_ctx;

static void inner(void *arg, size_t i)
{
    int64_t *row = arg;
    row[i] = 1;
}

static void outer(void *arg, size_t i)
{
    nested_ctx *c = arg;
    lh_pool_parallel_for(c->p, 100, inner, c->cells + i * 100);
}

static void test_pool_nested_parallel_for_does_not_deadlock(void **state)
{
    lh_pool *p = lh_pool_new(2);
    nested_ctx c = {p, calloc(800, sizeof(int64_t))};
    lh_pool_parallel_for(p, 8, outer, &c);
    for (int i = 0; i < 800; i++)
        assert_true(c.cells[i] == 1);
    free(c.cells);
    lh_pool_free(p);
}

static void test_cpu_and_memory_probes(void **state)
{
    assert_true(lh_cpu_count() >= 1);
    assert_true(lh_mem_total() > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool_runs_every_submitted_task),
        cmocka_unit_test(test_pool_parallel_for_covers_each_index_once),
        cmocka_unit_test(test_pool_nested_parallel_for_does_not_deadlock),
        cmocka_unit_test(test_cpu_and_memory_probes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
