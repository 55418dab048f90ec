/* Concurrency: many threads search one published index without locks and get the same answers
 * as a lone thread; searches running alongside inserts and deletes stay correct. Run it under
 * ThreadSanitizer (cmake -DLH_SANITIZE=thread) to check for data races. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "vector/vdata.h"
#include "vector/vector.h"

#define NQ 64
#define DIM 32
#define THREADS 8

typedef struct shared {
    lh_hnsw *h;
    const float *q;
    int64_t ref[NQ][10];
    _Atomic int mismatches;
    _Atomic int errors;
    _Atomic int stop;
    size_t rounds;
} shared;

static void *searcher(void *arg)
{
    shared *s = arg;
    lh_hnsw_ctx *ctx = lh_hnsw_ctx_new();
    for (size_t r = 0; r < s->rounds; r++)
        for (int i = 0; i < NQ; i++) {
            lh_vector_hit hits[10];
            size_t cnt;
            lh_hnsw_search_opts o = {.k = 10};
            /* half the threads use their own context, half the thread-local one */
            if (lh_hnsw_search(s->h, (r & 1) ? ctx : NULL, s->q + i * DIM, &o, hits, &cnt, NULL)) {
                atomic_fetch_add(&s->errors, 1);
                continue;
            }
            for (size_t j = 0; j < cnt; j++)
                if (hits[j].id != s->ref[i][j]) atomic_fetch_add(&s->mismatches, 1);
        }
    lh_hnsw_ctx_free(ctx);
    return NULL;
}

static float *gen(size_t n, float **q)
{
    vdata_spec sp = {.n = n,
                     .nq = NQ,
                     .dim = DIM,
                     .clusters = 8,
                     .sub = 6,
                     .spread = 0.6f,
                     .noise = 0.05f,
                     .seed = 31};
    float *b = malloc(n * DIM * sizeof(float));
    *q = malloc(NQ * DIM * sizeof(float));
    vdata_generate(&sp, b, *q);
    return b;
}

static void test_many_threads_search_a_published_index_and_agree(void **state)
{
    float *q, *b = gen(5000, &q);
    shared s = {.q = q, .rounds = 4};
    assert_int_equal(lh_hnsw_build(b, 5000, DIM, NULL, &s.h, NULL), LH_OK);
    for (int i = 0; i < NQ; i++) {
        lh_vector_hit hits[10];
        size_t cnt;
        lh_hnsw_search_opts o = {.k = 10};
        assert_int_equal(lh_hnsw_search(s.h, NULL, q + i * DIM, &o, hits, &cnt, NULL), LH_OK);
        assert_int_equal(cnt, 10);
        for (int j = 0; j < 10; j++)
            s.ref[i][j] = hits[j].id;
    }
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, searcher, &s), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(atomic_load(&s.errors), 0);
    assert_int_equal(atomic_load(&s.mismatches), 0);
    lh_hnsw_free(s.h);
    free(b);
    free(q);
}

typedef struct live {
    lh_hnsw *h;
    const float *q;
    _Atomic int stop;
    _Atomic int bad;
} live;

static void *live_searcher(void *arg)
{
    live *l = arg;
    while (!atomic_load(&l->stop))
        for (int i = 0; i < NQ; i++) {
            lh_vector_hit hits[10];
            size_t cnt;
            lh_hnsw_search_opts o = {.k = 10};
            if (lh_hnsw_search(l->h, NULL, l->q + i * DIM, &o, hits, &cnt, NULL) != LH_OK ||
                cnt == 0)
                atomic_fetch_add(&l->bad, 1);
            for (size_t j = 0; j < cnt; j++)
                if (hits[j].id < 2000 && hits[j].id % 10 == 9) /* deleted before searches began */
                    atomic_fetch_add(&l->bad, 1);
        }
    return NULL;
}

static void test_searches_run_alongside_inserts_and_deletes(void **state)
{
    float *q, *b = gen(6000, &q);
    lh_hnsw_params p;
    lh_hnsw_params_default(&p);
    p.capacity = 6000;
    live l = {.q = q};
    assert_int_equal(lh_hnsw_build(b, 2000, DIM, &p, &l.h, NULL), LH_OK);
    for (int64_t i = 9; i < 2000; i += 10)
        assert_int_equal(lh_hnsw_delete(l.h, i, NULL), LH_OK);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, live_searcher, &l), 0);
    /* this thread inserts and deletes while four threads search */
    for (size_t i = 2000; i < 6000; i++) {
        int64_t id;
        assert_int_equal(lh_hnsw_insert(l.h, b + i * DIM, &id, NULL), LH_OK);
        if (id % 10 == 9) assert_int_equal(lh_hnsw_delete(l.h, id, NULL), LH_OK);
    }
    atomic_store(&l.stop, 1);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    /* a row deleted while a search ran may legitimately be returned by that search; rows
     * deleted before the searchers started must never be */
    assert_int_equal(atomic_load(&l.bad), 0);
    assert_int_equal(lh_hnsw_size(l.h), 6000);
    lh_vector_eval ev;
    assert_int_equal(lh_hnsw_eval(l.h, q, NQ, NULL, 10, 64, NULL, 2, &ev, NULL), LH_OK);
    assert_true(ev.recall >= 0.95);
    lh_hnsw_free(l.h);
    free(b);
    free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_threads_search_a_published_index_and_agree),
        cmocka_unit_test(test_searches_run_alongside_inserts_and_deletes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
