/* A fixed-size pthread pool with a growable FIFO queue, and parallel_for on top of it. */
#define _GNU_SOURCE
#include "core/core.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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

/* ------------------------------------------------------------------ crew */

/* An idle crew thread, on its own stack: lh_crew_run hands it a task through fn/arg. */
typedef struct crew_slot {
    pthread_cond_t cv;
    lh_task_fn fn; /* set by lh_crew_run when it takes this slot off the idle list */
    void *arg;
    struct crew_slot *next;
} crew_slot;

struct lh_crew {
    pthread_mutex_t mu;
    pthread_cond_t done_cv; /* signalled when a thread exits */
    crew_slot *idle;        /* idle threads, most recently idle first; guarded by mu */
    int nidle, nthreads;    /* guarded by mu */
    bool stopping;          /* guarded by mu */
    int max_idle, idle_ms;
};

typedef struct crew_start {
    lh_crew *crew;
    lh_task_fn fn;
    void *arg;
} crew_start;

static void *crew_main(void *p)
{
    crew_start *start = p;
    lh_crew *c = start->crew;
    crew_slot self = {.fn = start->fn, .arg = start->arg};
    free(start);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&self.cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_lock(&c->mu);
    while (self.fn) {
        lh_task_fn fn = self.fn;
        self.fn = NULL;
        pthread_mutex_unlock(&c->mu);
        fn(self.arg);
        pthread_mutex_lock(&c->mu);
        if (c->stopping || c->nidle >= c->max_idle) break;
        self.next = c->idle;
        c->idle = &self;
        c->nidle++;
        struct timespec dl;
        clock_gettime(CLOCK_MONOTONIC, &dl);
        dl.tv_sec += c->idle_ms / 1000;
        dl.tv_nsec += (long)(c->idle_ms % 1000) * 1000000L;
        if (dl.tv_nsec >= 1000000000L) {
            dl.tv_sec++;
            dl.tv_nsec -= 1000000000L;
        }
        while (!self.fn && !c->stopping)
            if (pthread_cond_timedwait(&self.cv, &c->mu, &dl) == ETIMEDOUT) break;
        if (!self.fn) { /* timed out or stopping: still on the idle list */
            for (crew_slot **pp = &c->idle; *pp; pp = &(*pp)->next) {
                if (*pp == &self) {
                    *pp = self.next;
                    break;
                }
            }
            c->nidle--;
        }
    }
    c->nthreads--;
    pthread_cond_broadcast(&c->done_cv);
    pthread_mutex_unlock(&c->mu);
    pthread_cond_destroy(&self.cv);
    return NULL;
}

lh_crew *lh_crew_new(int max_idle, int idle_ms)
{
    lh_crew *c = lh_calloc(1, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->done_cv, NULL);
    c->max_idle = max_idle > 0 ? max_idle : 0;
    c->idle_ms = idle_ms > 0 ? idle_ms : 1;
    return c;
}

int lh_crew_run(lh_crew *c, lh_task_fn fn, void *arg)
{
    pthread_mutex_lock(&c->mu);
    crew_slot *s = c->idle;
    if (s) {
        c->idle = s->next;
        c->nidle--;
        s->fn = fn;
        s->arg = arg;
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&c->mu);
        return LH_OK;
    }
    crew_start *start = lh_malloc(sizeof *start);
    *start = (crew_start){.crew = c, .fn = fn, .arg = arg};
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t tid;
    int rc = pthread_create(&tid, &attr, crew_main, start);
    pthread_attr_destroy(&attr);
    if (rc == 0) c->nthreads++;
    pthread_mutex_unlock(&c->mu);
    if (rc != 0) {
        free(start);
        return LH_EUNAVAIL;
    }
    return LH_OK;
}

void lh_crew_counts(lh_crew *c, int *running, int *idle)
{
    pthread_mutex_lock(&c->mu);
    if (running) *running = c->nthreads - c->nidle;
    if (idle) *idle = c->nidle;
    pthread_mutex_unlock(&c->mu);
}

void lh_crew_free(lh_crew *c)
{
    if (!c) return;
    pthread_mutex_lock(&c->mu);
    c->stopping = true;
    for (crew_slot *s = c->idle; s; s = s->next)
        pthread_cond_signal(&s->cv);
    while (c->nthreads > 0)
        pthread_cond_wait(&c->done_cv, &c->mu);
    pthread_mutex_unlock(&c->mu);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->done_cv);
    free(c);
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
