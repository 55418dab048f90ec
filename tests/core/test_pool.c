/* core: thread pool, parallel_for, crew, cpu/memory probes. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <time.h>

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

/* ------------------------------------------------------------------ crew */

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Polls until the crew has `running` running and `idle` idle threads (or 5 s pass). */
static bool crew_settles(lh_crew *c, int running, int idle)
{
    for (int i = 0; i < 5000; i++) {
        int r = -1, d = -1;
        lh_crew_counts(c, &r, &d);
        if (r == running && d == idle) return true;
        sleep_ms(1);
    }
    return false;
}

static void record_self(void *arg)
{
    *(pthread_t *)arg = pthread_self();
}

static void test_crew_reuses_an_idle_thread(void **state)
{
    lh_crew *c = lh_crew_new(2, 60000);
    pthread_t first, second;
    assert_int_equal(lh_crew_run(c, record_self, &first), LH_OK);
    assert_true(crew_settles(c, 0, 1));
    assert_int_equal(lh_crew_run(c, record_self, &second), LH_OK);
    assert_true(crew_settles(c, 0, 1));
    assert_true(pthread_equal(first, second));
    lh_crew_free(c);
    lh_crew_free(NULL);
}

/* Tasks that each wait until all of them run: they finish only if none waits behind
 * another. */
typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int arrived, want, passed;
} gate;

static void gate_task(void *arg)
{
    gate *g = arg;
    pthread_mutex_lock(&g->mu);
    g->arrived++;
    pthread_cond_broadcast(&g->cv);
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 5;
    while (g->arrived < g->want)
        if (pthread_cond_timedwait(&g->cv, &g->mu, &dl) != 0) break;
    if (g->arrived >= g->want) g->passed++;
    pthread_mutex_unlock(&g->mu);
}

static void test_crew_starts_every_task_at_once_and_keeps_at_most_max_idle(void **state)
{
    lh_crew *c = lh_crew_new(1, 60000);
    gate g = {.want = 3};
    pthread_mutex_init(&g.mu, NULL);
    pthread_cond_init(&g.cv, NULL);
    for (int i = 0; i < 3; i++)
        assert_int_equal(lh_crew_run(c, gate_task, &g), LH_OK);
    assert_true(crew_settles(c, 0, 1)); /* two of the three threads went away */
    assert_int_equal(g.passed, 3);
    lh_crew_free(c);
    pthread_mutex_destroy(&g.mu);
    pthread_cond_destroy(&g.cv);
}

static void test_crew_idle_threads_expire(void **state)
{
    lh_crew *c = lh_crew_new(4, 20);
    pthread_t t;
    assert_int_equal(lh_crew_run(c, record_self, &t), LH_OK);
    assert_true(crew_settles(c, 0, 0));
    assert_int_equal(lh_crew_run(c, record_self, &t), LH_OK); /* a new thread starts */
    assert_true(crew_settles(c, 0, 0));
    lh_crew_free(c);
}

static void slow_set(void *arg)
{
    sleep_ms(100);
    __atomic_store_n((int *)arg, 1, __ATOMIC_RELEASE);
}

static void test_crew_free_waits_for_running_tasks(void **state)
{
    lh_crew *c = lh_crew_new(4, 60000);
    int done = 0;
    assert_int_equal(lh_crew_run(c, slow_set, &done), LH_OK);
    lh_crew_free(c);
    assert_int_equal(__atomic_load_n(&done, __ATOMIC_ACQUIRE), 1);
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
        cmocka_unit_test(test_crew_reuses_an_idle_thread),
        cmocka_unit_test(test_crew_starts_every_task_at_once_and_keeps_at_most_max_idle),
        cmocka_unit_test(test_crew_idle_threads_expire),
        cmocka_unit_test(test_crew_free_waits_for_running_tasks),
        cmocka_unit_test(test_cpu_and_memory_probes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
