/* The query list parser and small helpers shared by the SQL bench programs. */
#include "bench_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

char *bench_read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 2) {
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                buf = NULL;
            }
            buf = nb;
        }
    }
    fclose(f);
    if (buf) buf[len] = 0;
    return buf;
}

static void trim_sql(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\t' || s[n - 1] == '\r' ||
                 s[n - 1] == ';'))
        s[--n] = 0;
}

int bench_queries_load(const char *path, bench_query **out)
{
    char *text = bench_read_file(path);
    if (!text) {
        fprintf(stderr, "%s: cannot read\n", path);
        return -1;
    }
    bench_query *qs = NULL;
    int n = 0;
    size_t sql_len = 0;
    for (char *line = text; line && *line;) {
        char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        if (strncmp(line, "-- @query ", 10) == 0) {
            qs = realloc(qs, (size_t)(n + 1) * sizeof(*qs));
            bench_query *q = &qs[n++];
            memset(q, 0, sizeof(*q));
            char head[512];
            snprintf(head, sizeof(head), "%.*s", (int)(len - 10), line + 10);
            int used = 0;
            if (sscanf(head, "%63s %lf %n", q->name, &q->seed_ms, &used) < 2) {
                fprintf(stderr, "%s: bad header line '%s' (want NAME SEED_MS TEXT)\n", path, head);
                free(text);
                bench_queries_free(qs, n);
                return -1;
            }
            snprintf(q->desc, sizeof(q->desc), "%s", head + used);
            q->sql = calloc(1, 1);
            sql_len = 0;
        } else if (n > 0 && !(len >= 2 && line[0] == '-' && line[1] == '-')) {
            bench_query *q = &qs[n - 1];
            q->sql = realloc(q->sql, sql_len + len + 2);
            memcpy(q->sql + sql_len, line, len);
            sql_len += len;
            q->sql[sql_len++] = '\n';
            q->sql[sql_len] = 0;
        }
        line = nl ? nl + 1 : NULL;
    }
    free(text);
    for (int i = 0; i < n; i++)
        trim_sql(qs[i].sql);
    if (n == 0) fprintf(stderr, "%s: no '-- @query' blocks\n", path);
    *out = qs;
    return n ? n : -1;
}

void bench_queries_free(bench_query *q, int n)
{
    for (int i = 0; i < n; i++)
        free(q[i].sql);
    free(q);
}

double bench_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double bench_median(const double *v, int n)
{
    if (n <= 0) return 0;
    double *s = malloc((size_t)n * sizeof(double));
    memcpy(s, v, (size_t)n * sizeof(double));
    qsort(s, (size_t)n, sizeof(double), cmp_double);
    double m = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    free(s);
    return m;
}

void bench_print_samples(const double *v, int n)
{
    for (int i = 0; i < n; i++)
        printf("%s%.3f", i ? "," : "", v[i]);
    printf("\n");
}
