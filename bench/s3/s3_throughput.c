/*
 * s3_throughput — PUT and GET throughput of one backend through the storage interface.
 *
 * usage: s3_throughput local DIR SIZE_BYTES COUNT
 *        s3_throughput s3 ENDPOINT SIZE_BYTES COUNT      (credentials from LAKEHOUSE_S3_*)
 *
 * Puts COUNT objects of SIZE_BYTES (pseudo-random bytes), then gets each back whole, timing
 * every call. Prints one line per direction, tab-separated:
 *     put|get  SIZE_BYTES  COUNT  MEDIAN_MS  MB_PER_S(median)  SAMPLE_MS,...
 * The objects are deleted at the end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/storage.h"

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void report(const char *dir, long long size, int n, double *ms)
{
    double *s = malloc(n * sizeof *s);
    memcpy(s, ms, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp);
    double med = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    printf("%s\t%lld\t%d\t%.1f\t%.1f\t", dir, size, n, med, size / 1048576.0 / (med / 1000.0));
    for (int i = 0; i < n; i++)
        printf("%s%.1f", i ? "," : "", ms[i]);
    printf("\n");
    free(s);
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: s3_throughput local|s3 DIR|ENDPOINT SIZE_BYTES COUNT\n");
        return 2;
    }
    long long size = atoll(argv[3]);
    int n = atoi(argv[4]);
    lh_storage *st = NULL;
    lh_error err = {0};
    int rc;
    if (strcmp(argv[1], "local") == 0) {
        rc = lh_storage_open_local(argv[2], &st, &err);
    } else {
        lh_s3_options o = {
            .endpoint = argv[2],
            .bucket = "lake",
            .prefix = "throughput",
            .path_style = true,
            .access_key_id = getenv("LAKEHOUSE_S3_ACCESS_KEY_ID"),
            .secret_access_key = getenv("LAKEHOUSE_S3_SECRET_ACCESS_KEY"),
        };
        rc = lh_storage_open_s3(&o, &st, &err);
    }
    if (rc != LH_OK) {
        fprintf(stderr, "s3_throughput: %s\n", err.msg);
        return 1;
    }
    char *data = malloc((size_t)size);
    uint64_t x = 88172645463325252ull;
    for (long long i = 0; i < size; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        data[i] = (char)x;
    }
    double *put_ms = calloc(n, sizeof *put_ms), *get_ms = calloc(n, sizeof *get_ms);
    char key[64];
    for (int i = 0; i < n && rc == LH_OK; i++) {
        snprintf(key, sizeof key, "bench/obj%03d.bin", i);
        uint64_t t0 = lh_now_ns();
        rc = lh_storage_put(st, key, data, (size_t)size, &err);
        put_ms[i] = (double)(lh_now_ns() - t0) / 1e6;
    }
    for (int i = 0; i < n && rc == LH_OK; i++) {
        snprintf(key, sizeof key, "bench/obj%03d.bin", i);
        char *out = NULL;
        size_t len = 0;
        uint64_t t0 = lh_now_ns();
        rc = lh_storage_get(st, key, &out, &len, &err);
        get_ms[i] = (double)(lh_now_ns() - t0) / 1e6;
        if (rc == LH_OK && (len != (size_t)size || memcmp(out, data, len) != 0)) {
            fprintf(stderr, "s3_throughput: %s came back different\n", key);
            rc = LH_ECORRUPT;
        }
        free(out);
    }
    if (rc != LH_OK) {
        fprintf(stderr, "s3_throughput: %s\n", err.msg);
    } else {
        report("put", size, n, put_ms);
        report("get", size, n, get_ms);
    }
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof key, "bench/obj%03d.bin", i);
        lh_storage_delete(st, key, NULL);
    }
    lh_storage_close(st);
    free(data);
    free(put_ms);
    free(get_ms);
    return rc == LH_OK ? 0 : 1;
}
