/*
 * aibench — throughput of the offline glove embedder on real English text.
 *
 *   aibench [--seconds S] [--threads T] file...
 *
 * The files are chunked (sentence-aware) at three sizes; each chunk set is embedded for S
 * seconds on one thread (chunks/s per core), then on T threads at once. Also reports the table's
 * open time (mmap + checksum) and chunking speed. Prints Markdown rows for bench/RESULTS.md.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/ai.h"

typedef struct set {
    const char *label;
    lh_ai_chunk_opts opts;
    size_t n;
    char **texts;
    size_t *lens;
    size_t bytes;
} set;

typedef struct worker {
    lh_ai_embedder *e;
    const set *s;
    double seconds;
    size_t chunks;
    size_t bytes;
    double elapsed;
    int rc;
} worker;

static void *run(void *arg)
{
    worker *w = arg;
    size_t d = lh_ai_embedder_dims(w->e);
    enum { BATCH = 256 };
    float *out = malloc(BATCH * d * sizeof(float));
    lh_error err;
    uint64_t t0 = lh_now_ns(), limit = (uint64_t)(w->seconds * 1e9);
    size_t i = 0;
    while (lh_now_ns() - t0 < limit) {
        size_t m = w->s->n - i < BATCH ? w->s->n - i : BATCH;
        w->rc =
            lh_ai_embed(w->e, (const char *const *)w->s->texts + i, w->s->lens + i, m, out, &err);
        if (w->rc != LH_OK) {
            fprintf(stderr, "aibench: %s\n", err.msg);
            break;
        }
        for (size_t k = 0; k < m; k++)
            w->bytes += w->s->lens[i + k];
        w->chunks += m;
        i = (i + m) % w->s->n;
    }
    w->elapsed = (double)(lh_now_ns() - t0) / 1e9;
    free(out);
    return NULL;
}

static double measure(lh_ai_embedder *e, const set *s, int threads, double seconds, double *mbps)
{
    pthread_t *t = calloc((size_t)threads, sizeof *t);
    worker *w = calloc((size_t)threads, sizeof *w);
    for (int i = 0; i < threads; i++) {
        w[i] = (worker){.e = e, .s = s, .seconds = seconds};
        pthread_create(&t[i], NULL, run, &w[i]);
    }
    double rate = 0, bytes = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        if (w[i].rc != LH_OK) exit(1);
        rate += (double)w[i].chunks / w[i].elapsed;
        bytes += (double)w[i].bytes / w[i].elapsed;
    }
    *mbps = bytes / 1e6;
    free(t);
    free(w);
    return rate;
}

int main(int argc, char **argv)
{
    double seconds = 3;
    int threads = lh_cpu_count();
    lh_buf corpus = {0};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            seconds = atof(argv[++i]);
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            threads = atoi(argv[++i]);
        } else {
            char *txt;
            size_t len;
            lh_error err;
            if (lh_file_read(argv[i], &txt, &len, &err) != LH_OK) {
                fprintf(stderr, "aibench: %s\n", err.msg);
                return 1;
            }
            lh_buf_append(&corpus, txt, len);
            lh_buf_puts(&corpus, "\n\n");
            free(txt);
        }
    }
    if (corpus.len == 0 || threads < 1 || seconds <= 0) {
        fprintf(stderr, "usage: aibench [--seconds S] [--threads T] file...\n");
        return 2;
    }
    lh_error err;
    lh_ai_embedder *e;
    uint64_t t0 = lh_now_ns();
    if (lh_ai_glove_open(NULL, &e, &err) != LH_OK) {
        fprintf(stderr, "aibench: %s\n", err.msg);
        return 1;
    }
    double open_ms = (double)(lh_now_ns() - t0) / 1e6;
    printf("glove table opened (mmap + checks) in %.1f ms; model %s %s\n", open_ms,
           lh_ai_embedder_name(e), lh_ai_embedder_version(e));
    printf("corpus: %zu bytes of English text\n\n", corpus.len);

    set sets[] = {
        {.label = "sentence (<= 200 chars)", .opts = {200, 0, LH_AI_CHUNK_CHARS}},
        {.label = "paragraph (<= 500 chars)", .opts = {500, 0, LH_AI_CHUNK_CHARS}},
        {.label = "passage (<= 256 tokens)", .opts = {256, 32, LH_AI_CHUNK_TOKENS}},
    };
    printf("| chunks | n | mean chars | chunking MB/s | 1 thread chunks/s | µs/chunk | MB/s | "
           "%d threads chunks/s | per thread |\n",
           threads);
    printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (size_t k = 0; k < sizeof sets / sizeof sets[0]; k++) {
        set *s = &sets[k];
        lh_ai_chunk *c;
        int reps = 0;
        uint64_t c0 = lh_now_ns();
        do {
            if (reps) free(c);
            if (lh_ai_chunk_text(corpus.data, corpus.len, &s->opts, &c, &s->n, &err) != LH_OK) {
                fprintf(stderr, "aibench: %s\n", err.msg);
                return 1;
            }
            reps++;
        } while (lh_now_ns() - c0 < 500000000ull);
        double chunk_mbps = (double)corpus.len * reps / ((double)(lh_now_ns() - c0) / 1e9) / 1e6;
        s->texts = malloc(s->n * sizeof(char *));
        s->lens = malloc(s->n * sizeof(size_t));
        for (size_t i = 0; i < s->n; i++) {
            s->texts[i] = corpus.data + c[i].start;
            s->lens[i] = c[i].end - c[i].start;
            s->bytes += s->lens[i];
        }
        free(c);
        double mb1, mbt;
        double one = measure(e, s, 1, seconds, &mb1);
        double many = threads > 1 ? measure(e, s, threads, seconds, &mbt) : one;
        printf("| %s | %zu | %.0f | %.1f | %.0f | %.2f | %.1f | %.0f | %.0f |\n", s->label, s->n,
               (double)s->bytes / (double)s->n, chunk_mbps, one, 1e6 / one, mb1, many,
               many / threads);
        fflush(stdout);
        free(s->texts);
        free(s->lens);
    }
    lh_ai_embedder_free(e);
    lh_buf_free(&corpus);
    return 0;
}
