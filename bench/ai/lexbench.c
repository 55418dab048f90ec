/*
 * lexbench — BM25 top-k latency of the lexical index against FTS5's own bm25() ranking.
 *
 *   lexbench [--k K] [--runs R] [--no-check] [--snippets] lexical.sqlite
 *
 * Runs the /search benchmark's 40 resume queries (bench/search/latency.py) through
 * lh_ai_lexical_query (pruned, no snippets) and through SQLite's `ORDER BY bm25(lh_fts), rowid
 * LIMIT k` over the same words, checks that both give the same chunks and scores, and prints
 * p50/p95 of each and how many chunks the pruned ranking scored. Not a test.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/ai.h"

static const char *const words[20] = {"Kubernetes migration",
                                      "payroll accountant",
                                      "registered nurse ICU",
                                      "Java Spring microservices",
                                      "forklift warehouse",
                                      "SQL reporting analyst",
                                      "help desk Active Directory",
                                      "Terraform AWS",
                                      "month-end close",
                                      "patient care",
                                      "React frontend",
                                      "data pipelines Python",
                                      "CDL truck driver",
                                      "customer service call center",
                                      "project manager agile",
                                      "network engineer Cisco",
                                      "QuickBooks invoices",
                                      "Docker CI/CD",
                                      "medical billing",
                                      "sales quota"};

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The FTS5 expression the library builds for a query without stopwords. */
static char *or_query(const char *q)
{
    static const char *const stop[] = {"with", NULL};
    char *out = calloc(1, strlen(q) * 4 + 16), *w = strdup(q), *save = NULL;
    for (char *t = strtok_r(w, " -/", &save); t; t = strtok_r(NULL, " -/", &save)) {
        bool skip = false;
        for (int i = 0; stop[i]; i++)
            skip |= strcasecmp(t, stop[i]) == 0;
        if (skip) continue;
        if (*out) strcat(out, " OR ");
        strcat(out, "\"");
        for (char *p = t; *p; p++)
            *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        strcat(out, t);
        strcat(out, "\"");
    }
    free(w);
    return out;
}

int main(int argc, char **argv)
{
    size_t k = 10;
    int runs = 5;
    bool check = true, snippets = false;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--k") == 0 && i + 1 < argc)
            k = (size_t)atoi(argv[++i]);
        else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (strcmp(argv[i], "--no-check") == 0)
            check = false;
        else if (strcmp(argv[i], "--snippets") == 0)
            snippets = true;
        else
            path = argv[i];
    }
    if (!path) {
        fprintf(stderr,
                "usage: lexbench [--k K] [--runs R] [--no-check] [--snippets] lexical.sqlite\n");
        return 2;
    }
    lh_error err = {0};
    lh_ai_lexical *x;
    if (lh_ai_lexical_open(path, &x, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    sqlite3 *db;
    sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    sqlite3_stmt *st, *cnt;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM lh_fts WHERE lh_fts MATCH ?", -1, &cnt,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "SELECT lh_fts.rowid, -bm25(lh_fts) FROM lh_fts WHERE lh_fts MATCH ?"
                           " ORDER BY bm25(lh_fts), lh_fts.rowid LIMIT ?",
                           -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "%s\n", sqlite3_errmsg(db));
        return 1;
    }
    char *queries[40];
    for (int i = 0; i < 40; i++) {
        if (i < 20) {
            queries[i] = strdup(words[i]);
        } else {
            char first[64];
            sscanf(words[(i * 7) % 20], "%63s", first);
            queries[i] = malloc(strlen(words[i % 20]) + 80);
            sprintf(queries[i], "%s with %s", words[i % 20], first);
        }
    }
    size_t nq = 40, total = (size_t)runs * nq;
    double *tp = calloc(total, sizeof(double)), *tf = calloc(total, sizeof(double));
    size_t scored = 0, matches = 0, bad = 0, m = 0;
    int64_t all = 0; /* chunks holding a query word, summed over the first run */
    lh_ai_lexical_opts o = {.k = k, .snippets = snippets};
    for (int r = 0; r < runs; r++) {
        for (size_t i = 0; i < nq; i++, m++) {
            lh_ai_lexical_hit *h;
            size_t n;
            lh_ai_lexical_info info;
            uint64_t t0 = lh_now_ns();
            if (lh_ai_lexical_query(x, queries[i], &o, &h, &n, &info, &err)) {
                fprintf(stderr, "%s: %s\n", queries[i], err.msg);
                return 1;
            }
            uint64_t t1 = lh_now_ns();
            char *fq = or_query(queries[i]);
            sqlite3_reset(st);
            sqlite3_bind_text(st, 1, fq, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(st, 2, (sqlite3_int64)k);
            size_t j = 0;
            while (check && sqlite3_step(st) == SQLITE_ROW) {
                if (j >= n || h[j].id != sqlite3_column_int64(st, 0) ||
                    h[j].score != sqlite3_column_double(st, 1)) {
                    if (r == 0)
                        fprintf(stderr, "%s: rank %zu differs (%lld %.17g vs %lld %.17g)\n",
                                queries[i], j + 1, j < n ? (long long)h[j].id : -1LL,
                                j < n ? h[j].score : 0.0, (long long)sqlite3_column_int64(st, 0),
                                sqlite3_column_double(st, 1));
                    bad++;
                    break;
                }
                j++;
            }
            uint64_t t2 = lh_now_ns();
            if (check && j != n && r == 0)
                fprintf(stderr, "%s: %zu hits vs %zu\n", queries[i], n, j);
            tp[m] = (double)(t1 - t0) / 1e6;
            tf[m] = (double)(t2 - t1) / 1e6;
            scored += info.scored;
            matches += n;
            if (r == 0) {
                sqlite3_reset(cnt);
                sqlite3_bind_text(cnt, 1, fq, -1, SQLITE_TRANSIENT);
                if (sqlite3_step(cnt) == SQLITE_ROW) all += sqlite3_column_int64(cnt, 0);
            }
            if (r == 0)
                printf("%-45s scored %6zu, terms read %zu of %zu, %.2f ms (bm25() %.2f ms)\n",
                       queries[i], info.scored, info.terms_read, info.terms, tp[m], tf[m]);
            free(fq);
            lh_ai_lexical_hits_free(h, n);
        }
    }
    qsort(tp, total, sizeof(double), cmp_d);
    qsort(tf, total, sizeof(double), cmp_d);
    printf("k %zu, %zu queries: pruned p50 %.3f ms p95 %.3f ms; bm25() p50 %.3f ms p95 %.3f ms; "
           "%.0f chunks scored per query of %.0f holding a query word; %zu rankings differ\n",
           k, total, tp[total / 2], tp[total * 95 / 100], tf[total / 2], tf[total * 95 / 100],
           (double)scored / (double)total, (double)all / (double)nq, bad);
    sqlite3_finalize(st);
    sqlite3_finalize(cnt);
    sqlite3_close(db);
    lh_ai_lexical_close(x);
    return bad ? 1 : 0;
}
