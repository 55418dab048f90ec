/* A fixed-size pthread pool with a growable FIFO queue, and parallel_for on top of it. */
#define _GNU_SOURCE
#include "core/core.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct task {
    lh_task_fn fn;
    void *arg;
    struct task *next;
} task;

struct lh_pool {
    pthread_mutex_t mu;
    pthread_cond_t work_cv; /* signalled when a task is queued or stopping is set */
    pthread_cond_t idle_cv; /* signalled when pending drops to 0 */
    task *head, *tail;      /* guarded by mu */
    size_t pending;         /* queued + running tasks; guarded by mu */
    bool stopping;          /* guarded by mu */
    int nthreads;
    pthread_t *threads;
};

static void *worker(void *arg)
{
    lh_pool *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->head && !p->stopping)
            pthread_cond_wait(&p->work_cv, &p->mu);
        if (!p->head && p->stopping) break;
        task *t = p->head;
        p->head = t->next;
        if (!p->head) p->tail = NULL;
        pthread_mutex_unlock(&p->mu);
        t->fn(t->arg);
        free(t);
        pthread_mutex_lock(&p->mu);
        if (--p->pending == 0) pthread_cond_broadcast(&p->idle_cv);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

lh_pool *lh_pool_new(int n)
{
    if (n <= 0) n = lh_cpu_count();
    lh_pool *p = lh_calloc(1, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work_cv, NULL);
    pthread_cond_init(&p->idle_cv, NULL);
    p->threads = lh_calloc((size_t)n, sizeof *p->threads);
    for (int i = 0; i < n; i++) {
        if (pthread_create(&p->threads[i], NULL, worker, p) != 0) {
            p->nthreads = i;
            lh_pool_free(p);
            return NULL;
        }
    }
    p->nthreads = n;
    return p;
}

void lh_pool_submit(lh_pool *p, lh_task_fn fn, void *arg)
{
    task *t = lh_malloc(sizeof *t);
    t->fn = fn;
    t->arg = arg;
    t->next = NULL;
    pthread_mutex_lock(&p->mu);
    if (p->tail)
        p->tail->next = t;
    else
        p->head = t;
    p->tail = t;
    p->pending++;
    pthread_cond_signal(&p->work_cv);
    pthread_mutex_unlock(&p->mu);
}

void lh_pool_wait(lh_pool *p)
{
    pthread_mutex_lock(&p->mu);
    while (p->pending > 0)
        pthread_cond_wait(&p->idle_cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

/* Shared state of one parallel_for. Heap-allocated and reference-counted because helper
 * tasks may start after the caller has returned (all indices already claimed); the caller
 * waits for completed indices, not for helpers, so a parallel_for nested inside a pool task
 * cannot deadlock on helpers queued behind it. */
typedef struct pfor {
    void (*fn)(void *arg, size_t i);
    void *arg;
    size_t n;
    size_t next; /* atomic: next index to claim */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t done; /* guarded by mu: indices finished */
    int refs;    /* guarded by mu */
} pfor;

static void pfor_unref(pfor *f)
{
    pthread_mutex_lock(&f->mu);
    int left = --f->refs;
    pthread_mutex_unlock(&f->mu);
    if (left == 0) {
        pthread_mutex_destroy(&f->mu);
        pthread_cond_destroy(&f->cv);
        free(f);
    }
}

static void pfor_run(pfor *f)
{
    size_t finished = 0;
    for (;;) {
        size_t i = __atomic_fetch_add(&f->next, 1, __ATOMIC_RELAXED);
        if (i >= f->n) break;
        f->fn(f->arg, i);
        finished++;
    }
    if (finished) {
        pthread_mutex_lock(&f->mu);
        f->done += finished;
        if (f->done == f->n) pthread_cond_broadcast(&f->cv);
        pthread_mutex_unlock(&f->mu);
    }
}

static void pfor_task(void *arg)
{
    pfor *f = arg;
    pfor_run(f);
    pfor_unref(f);
}

void lh_pool_parallel_for(lh_pool *p, size_t n, void (*fn)(void *arg, size_t i), void *arg)
{
    if (n == 0) return;
    if (!p || p->nthreads == 0 || n == 1) {
        for (size_t i = 0; i < n; i++)
            fn(arg, i);
        return;
    }
    pfor *f = lh_calloc(1, sizeof *f);
    f->fn = fn;
    f->arg = arg;
    f->n = n;
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    size_t helpers = (size_t)p->nthreads < n - 1 ? (size_t)p->nthreads : n - 1;
    f->refs = (int)helpers + 1;
    for (size_t h = 0; h < helpers; h++)
        lh_pool_submit(p, pfor_task, f);
    pfor_run(f);
    pthread_mutex_lock(&f->mu);
    while (f->done < f->n)
        pthread_cond_wait(&f->cv, &f->mu);
    pthread_mutex_unlock(&f->mu);
    pfor_unref(f);
}

int lh_pool_size(const lh_pool *p)
{
    return p ? p->nthreads : 0;
}

void lh_pool_free(lh_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    pthread_cond_broadcast(&p->work_cv);
    pthread_mutex_unlock(&p->mu);
    /* Workers drain the queue before they see stopping with an empty queue. */
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    free(p->threads);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->work_cv);
    pthread_cond_destroy(&p->idle_cv);
    free(p);
}

int lh_cpu_count(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int c = CPU_COUNT(&set);
        if (c > 0) return c;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int64_t lh_mem_total(void)
{
    long pages = sysconf(_SC_PHYS_PAGES);
    long psize = sysconf(_SC_PAGESIZE);
    int64_t total = pages > 0 && psize > 0 ? (int64_t)pages * psize : 0;
    /* A cgroup v2 memory limit (containers) is the real ceiling when it is lower. */
    FILE *f = fopen("/sys/fs/cgroup/memory.max", "r");
    if (f) {
        char line[64];
        if (fgets(line, sizeof line, f) && line[0] >= '0' && line[0] <= '9') {
            long long lim = strtoll(line, NULL, 10);
            if (lim > 0 && (total == 0 || lim < total)) total = lim;
        }
        fclose(f);
    }
    return total;
}
