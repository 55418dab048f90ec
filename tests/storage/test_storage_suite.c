/* storage: the interface contract, one suite run against both backends — the local folder and
 * S3 (a real S3-compatible server started for the run, scripts/s3-server). */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "s3server.h"
#include "storage/storage.h"
#include "testutil.h"

static s3srv server;
static int seq;

typedef struct {
    char *dir; /* local root, or the cache folder of the S3 store */
    lh_storage *st;
    bool s3;
} fixture;

/* Small multipart settings so put_file of a few MiB exercises the multipart path. */
#define MP_THRESHOLD ((int64_t)6 << 20)
#define MP_PART ((int64_t)5 << 20)

static int open_local(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->dir = tu_tmpdir("suite-local");
    lh_error err;
    if (lh_storage_open_local(f->dir, &f->st, &err) != LH_OK) return -1;
    *state = f;
    return 0;
}

static int open_s3(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->dir = tu_tmpdir("suite-s3cache");
    f->s3 = true;
    char prefix[64];
    /* Each test gets its own key prefix in the bucket, so tests never see each other. */
    snprintf(prefix, sizeof prefix, "t%d-%d", (int)getpid(), ++seq);
    lh_s3_options o = s3srv_options(&server, prefix, f->dir);
    o.multipart_threshold = MP_THRESHOLD;
    o.part_size = MP_PART;
    lh_error err;
    if (lh_storage_open_s3(&o, &f->st, &err) != LH_OK) {
        fprintf(stderr, "open s3: %s\n", err.msg);
        return -1;
    }
    *state = f;
    return 0;
}

static int close_store(void **state)
{
    fixture *f = *state;
    lh_storage_close(f->st);
    tu_rmdir(f->dir);
    free(f);
    return 0;
}

static int server_up(void **state)
{
    return s3srv_start(&server, 0);
}

static int server_down(void **state)
{
    s3srv_destroy(&server);
    return 0;
}

static void put_str(lh_storage *st, const char *key, const char *s)
{
    lh_error err;
    lh_error_clear(&err);
    if (lh_storage_put(st, key, s, strlen(s), &err) != LH_OK) fail_msg("put %s: %s", key, err.msg);
}

static void assert_get(lh_storage *st, const char *key, const char *want)
{
    char *out = NULL;
    size_t n = 0;
    lh_error err;
    if (lh_storage_get(st, key, &out, &n, &err) != LH_OK) fail_msg("get %s: %s", key, err.msg);
    assert_int_equal(n, strlen(want));
    assert_string_equal(out, want);
    free(out);
}

static void test_put_get_head_delete_round_trip(void **state)
{
    fixture *f = *state;
    lh_storage *st = f->st;
    lh_error err;
    assert_string_equal(lh_storage_backend(st), f->s3 ? "s3" : "local");
    put_str(st, "data/candidates/a.parquet", "hello world");
    assert_get(st, "data/candidates/a.parquet", "hello world");
    put_str(st, "data/candidates/a.parquet", "v2"); /* overwrite */
    assert_get(st, "data/candidates/a.parquet", "v2");

    lh_object_info info;
    assert_int_equal(lh_storage_head(st, "data/candidates/a.parquet", &info, &err), LH_OK);
    assert_string_equal(info.key, "data/candidates/a.parquet");
    assert_true(info.size == 2);
    assert_true(info.mtime_us > 0);
    assert_true(strlen(info.etag) > 2);

    char *out = (char *)"x";
    size_t n = 7;
    assert_int_equal(lh_storage_get(st, "data/none", &out, &n, &err), LH_ENOENT);
    assert_null(out);
    assert_int_equal(n, 0);
    assert_non_null(strstr(err.msg, "data/none"));
    assert_int_equal(lh_storage_head(st, "data/none", &info, &err), LH_ENOENT);

    assert_int_equal(lh_storage_delete(st, "data/candidates/a.parquet", &err), LH_OK);
    assert_int_equal(lh_storage_get(st, "data/candidates/a.parquet", &out, &n, &err), LH_ENOENT);
    assert_int_equal(lh_storage_delete(st, "data/candidates/a.parquet", &err), LH_OK);
    /* A key's prefix is not an object, and neither is a key below an object. */
    put_str(st, "x/y/z", "1");
    assert_int_equal(lh_storage_get(st, "x/y", &out, &n, &err), LH_ENOENT);
    assert_int_equal(lh_storage_head(st, "x/y", &info, &err), LH_ENOENT);
    assert_int_equal(lh_storage_get(st, "x/y/z/w", &out, &n, &err), LH_ENOENT);
}

static void test_empty_and_binary_objects(void **state)
{
    fixture *f = *state;
    lh_error err;
    assert_int_equal(lh_storage_put(f->st, "empty", "", 0, &err), LH_OK);
    char bin[256];
    for (int i = 0; i < 256; i++)
        bin[i] = (char)i;
    assert_int_equal(lh_storage_put(f->st, "bin/all-bytes", bin, sizeof bin, &err), LH_OK);
    char *out;
    size_t n;
    assert_int_equal(lh_storage_get(f->st, "empty", &out, &n, &err), LH_OK);
    assert_int_equal(n, 0);
    assert_string_equal(out, "");
    free(out);
    assert_int_equal(lh_storage_get(f->st, "bin/all-bytes", &out, &n, &err), LH_OK);
    assert_int_equal(n, 256);
    assert_memory_equal(out, bin, 256);
    free(out);
}

static void test_range_reads(void **state)
{
    fixture *f = *state;
    lh_error err;
    put_str(f->st, "r", "0123456789");
    struct {
        int64_t off, len;
        const char *want;
    } cases[] = {{0, -1, "0123456789"}, {3, 4, "3456"}, {7, -1, "789"}, {8, 100, "89"},
                 {10, -1, ""},          {42, 3, ""},    {5, 0, ""},     {0, 1, "0"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out;
        size_t n;
        int rc = lh_storage_get_range(f->st, "r", cases[i].off, cases[i].len, &out, &n, &err);
        if (rc != LH_OK) fail_msg("case %zu: %s", i, err.msg);
        assert_int_equal(n, strlen(cases[i].want));
        assert_string_equal(out, cases[i].want);
        free(out);
    }
    char *out;
    size_t n;
    assert_int_equal(lh_storage_get_range(f->st, "r", -1, 2, &out, &n, &err), LH_EINVAL);
    assert_int_equal(lh_storage_get_range(f->st, "nope", 0, 0, &out, &n, &err), LH_ENOENT);
}

/* A file of n pseudo-random bytes; returns its path (caller frees). */
static char *make_file(const char *dir, const char *name, size_t n)
{
    char *buf = malloc(n);
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        buf[i] = (char)x;
    }
    char *p = tu_write(dir, name, buf, (long)n);
    free(buf);
    return p;
}

static void assert_same_file(const char *a, const char *b)
{
    char *x, *y;
    size_t nx, ny;
    lh_error err;
    assert_int_equal(lh_file_read(a, &x, &nx, &err), LH_OK);
    assert_int_equal(lh_file_read(b, &y, &ny, &err), LH_OK);
    assert_int_equal(nx, ny);
    assert_memory_equal(x, y, nx);
    free(x);
    free(y);
}

static void test_put_file_and_get_file_small_and_multipart(void **state)
{
    fixture *f = *state;
    lh_error err;
    char *tmp = tu_tmpdir("suite-files");
    size_t sizes[] = {1000, (size_t)MP_THRESHOLD + (size_t)MP_PART + 12345};
    for (size_t i = 0; i < 2; i++) {
        char name[32], key[64];
        snprintf(name, sizeof name, "src%zu", i);
        snprintf(key, sizeof key, "data/files/f%zu.bin", i);
        char *src = make_file(tmp, name, sizes[i]);
        if (lh_storage_put_file(f->st, key, src, &err) != LH_OK) fail_msg("%s", err.msg);
        lh_object_info info;
        assert_int_equal(lh_storage_head(f->st, key, &info, &err), LH_OK);
        assert_true(info.size == (int64_t)sizes[i]);
        char *dst = lh_path_join(tmp, "copy");
        if (lh_storage_get_file(f->st, key, dst, &err) != LH_OK) fail_msg("%s", err.msg);
        assert_same_file(src, dst);
        /* A range inside the second part of the big object. */
        char *out;
        size_t n;
        int64_t off = (int64_t)sizes[i] - 500;
        assert_int_equal(lh_storage_get_range(f->st, key, off, 100, &out, &n, &err), LH_OK);
        assert_int_equal(n, 100);
        free(out);
        free(src);
        free(dst);
    }
    assert_int_equal(lh_storage_put_file(f->st, "x", "/nonexistent/file", &err), LH_ENOENT);
    char *dst = lh_path_join(tmp, "absent-copy");
    assert_int_equal(lh_storage_get_file(f->st, "data/absent", dst, &err), LH_ENOENT);
    struct stat sb;
    assert_int_not_equal(stat(dst, &sb), 0); /* nothing left behind */
    free(dst);
    tu_rmdir(tmp);
}

static void test_list_sorted_prefix_and_pagination(void **state)
{
    fixture *f = *state;
    lh_error err;
    /* Byte order puts "a/..." (0x2F) before "a0" (0x30) before "a_c" (0x5F). (s3rver lists in
     * directory-walk order, which differs from byte order for characters below '/', so the
     * "a-c" case is in test_storage_local only.) */
    const char *keys[] = {"a/b",
                          "a/c/d",
                          "a_c",
                          "a0",
                          "b",
                          "_catalog/x/v00000001.json",
                          "_catalog/x/v00000002.json",
                          "_catalog/xy/v00000001.json",
                          "Z"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        put_str(f->st, keys[i], keys[i]);
    const char *all[] = {"Z",
                         "_catalog/x/v00000001.json",
                         "_catalog/x/v00000002.json",
                         "_catalog/xy/v00000001.json",
                         "a/b",
                         "a/c/d",
                         "a0",
                         "a_c",
                         "b"};
    lh_object_list l;
    assert_int_equal(lh_storage_list_all(f->st, "", &l, &err), LH_OK);
    assert_int_equal(l.count, 9);
    for (size_t i = 0; i < l.count; i++)
        assert_string_equal(l.items[i].key, all[i]);
    assert_null(l.next_token);
    lh_storage_list_free(&l);

    size_t seen = 0;
    char *token = NULL;
    int pages = 0;
    do {
        assert_int_equal(lh_storage_list(f->st, "", token, 2, &l, &err), LH_OK);
        free(token);
        token = l.next_token ? strdup(l.next_token) : NULL;
        assert_true(l.count <= 2);
        for (size_t i = 0; i < l.count; i++)
            assert_string_equal(l.items[i].key, all[seen++]);
        lh_storage_list_free(&l);
        pages++;
    } while (token);
    assert_int_equal(seen, 9);
    assert_int_equal(pages, 5);

    assert_int_equal(lh_storage_list_all(f->st, "_catalog/x/", &l, &err), LH_OK);
    assert_int_equal(l.count, 2);
    assert_string_equal(l.items[1].key, "_catalog/x/v00000002.json");
    assert_true(l.items[1].size == (int64_t)strlen("_catalog/x/v00000002.json"));
    assert_true(l.items[1].mtime_us > 0);
    lh_storage_list_free(&l);
    assert_int_equal(lh_storage_list_all(f->st, "_catalog/x", &l, &err), LH_OK);
    assert_int_equal(l.count, 3);
    lh_storage_list_free(&l);
    assert_int_equal(lh_storage_list_all(f->st, "a", &l, &err), LH_OK);
    assert_int_equal(l.count, 4);
    assert_string_equal(l.items[0].key, "a/b");
    assert_string_equal(l.items[3].key, "a_c");
    lh_storage_list_free(&l);
    assert_int_equal(lh_storage_list_all(f->st, "nothing/", &l, &err), LH_OK);
    assert_int_equal(l.count, 0);
    lh_storage_list_free(&l);

    assert_int_equal(lh_storage_list(f->st, "a", "a/b", 1, &l, &err), LH_OK); /* resume */
    assert_int_equal(l.count, 1);
    assert_string_equal(l.items[0].key, "a/c/d");
    assert_non_null(l.next_token);
    lh_storage_list_free(&l);

    assert_int_equal(lh_storage_list(f->st, "../x", NULL, 0, &l, &err), LH_EINVAL);
}

static void test_list_many_keys_in_pages(void **state)
{
    fixture *f = *state;
    lh_error err;
    for (int i = 0; i < 230; i++) {
        char key[64];
        snprintf(key, sizeof key, "many/k%04d", i);
        put_str(f->st, key, "x");
    }
    lh_object_list l;
    assert_int_equal(lh_storage_list(f->st, "many/", NULL, 100, &l, &err), LH_OK);
    assert_int_equal(l.count, 100);
    assert_non_null(l.next_token);
    lh_storage_list_free(&l);
    assert_int_equal(lh_storage_list_all(f->st, "many/", &l, &err), LH_OK);
    assert_int_equal(l.count, 230);
    assert_string_equal(l.items[229].key, "many/k0229");
    lh_storage_list_free(&l);
    if (f->s3) {
        /* Connections are reused: hundreds of requests, a handful of handshakes. */
        lh_storage_stats s;
        lh_storage_stats_get(f->st, &s);
        assert_true(s.requests >= 230);
        assert_true(s.connects >= 1);
        assert_true(s.connects <= 4);
    }
}

static void test_put_if_absent_creates_once(void **state)
{
    fixture *f = *state;
    lh_error err;
    const char *k = "_catalog/ds/v00000001.json";
    assert_int_equal(lh_storage_put_if_absent(f->st, k, "first", 5, &err), LH_OK);
    assert_int_equal(lh_storage_put_if_absent(f->st, k, "second", 6, &err), LH_EEXIST);
    assert_non_null(strstr(err.msg, "already exists"));
    assert_get(f->st, k, "first");
    assert_int_equal(lh_storage_put_if_absent(f->st, "_catalog/ds/v00000002.json", "", 0, &err),
                     LH_OK);
}

static void test_delete_many(void **state)
{
    fixture *f = *state;
    lh_error err;
    put_str(f->st, "d/1", "1");
    put_str(f->st, "d/2", "2");
    put_str(f->st, "d/3", "3");
    const char *keys[] = {"d/1", "d/3", "d/absent"};
    assert_int_equal(lh_storage_delete_many(f->st, keys, 3, &err), LH_OK);
    lh_object_list l;
    assert_int_equal(lh_storage_list_all(f->st, "d/", &l, &err), LH_OK);
    assert_int_equal(l.count, 1);
    assert_string_equal(l.items[0].key, "d/2");
    lh_storage_list_free(&l);
    const char *bad[] = {"d/2", "../x"};
    assert_int_equal(lh_storage_delete_many(f->st, bad, 2, &err), LH_EINVAL);
    assert_get(f->st, "d/2", "2"); /* a bad key anywhere: nothing deleted */
}

static void test_local_path_gives_a_readable_copy(void **state)
{
    fixture *f = *state;
    put_str(f->st, "data/ds/p.parquet", "parquet bytes");
    char buf[1024];
    const char *p = lh_storage_local_path(f->st, "data/ds/p.parquet", buf, sizeof buf);
    assert_non_null(p);
    char *x;
    size_t n;
    lh_error err;
    assert_int_equal(lh_file_read(p, &x, &n, &err), LH_OK);
    assert_string_equal(x, "parquet bytes");
    free(x);
    /* Again: the same file (from the cache on S3). */
    char buf2[1024];
    assert_string_equal(lh_storage_local_path(f->st, "data/ds/p.parquet", buf2, sizeof buf2), p);
    /* A changed object yields its new bytes, never the stale copy. */
    put_str(f->st, "data/ds/p.parquet", "new bytes!");
    p = lh_storage_local_path(f->st, "data/ds/p.parquet", buf, sizeof buf);
    assert_non_null(p);
    assert_int_equal(lh_file_read(p, &x, &n, &err), LH_OK);
    assert_string_equal(x, "new bytes!");
    free(x);
    assert_null(lh_storage_local_path(f->st, "../etc/passwd", buf, sizeof buf));
    if (f->s3) {
        /* Only a copy of an existing object (the local backend names the path regardless). */
        assert_null(lh_storage_local_path(f->st, "data/ds/absent.parquet", buf, sizeof buf));
        lh_storage_stats s;
        lh_storage_stats_get(f->st, &s);
        assert_true(s.cache_hits >= 1);
        assert_true(s.cache_misses >= 2);
        assert_true(s.requests > 0);
    }
}

static void test_bad_keys_change_nothing(void **state)
{
    fixture *f = *state;
    lh_error err;
    const char *bad[] = {"", "/abs", "a//b", "a/../b", "a b", "a\\b", "."};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(lh_storage_put(f->st, bad[i], "x", 1, &err), LH_EINVAL);
        assert_int_equal(lh_storage_put_if_absent(f->st, bad[i], "x", 1, &err), LH_EINVAL);
    }
    lh_object_list l;
    assert_int_equal(lh_storage_list_all(f->st, "", &l, &err), LH_OK);
    assert_int_equal(l.count, 0);
    lh_storage_list_free(&l);
}

#define TESTS(open)                                                                                \
    cmocka_unit_test_setup_teardown(test_put_get_head_delete_round_trip, open, close_store),       \
        cmocka_unit_test_setup_teardown(test_empty_and_binary_objects, open, close_store),         \
        cmocka_unit_test_setup_teardown(test_range_reads, open, close_store),                      \
        cmocka_unit_test_setup_teardown(test_put_file_and_get_file_small_and_multipart, open,      \
                                        close_store),                                              \
        cmocka_unit_test_setup_teardown(test_list_sorted_prefix_and_pagination, open,              \
                                        close_store),                                              \
        cmocka_unit_test_setup_teardown(test_list_many_keys_in_pages, open, close_store),          \
        cmocka_unit_test_setup_teardown(test_put_if_absent_creates_once, open, close_store),       \
        cmocka_unit_test_setup_teardown(test_delete_many, open, close_store),                      \
        cmocka_unit_test_setup_teardown(test_local_path_gives_a_readable_copy, open, close_store), \
        cmocka_unit_test_setup_teardown(test_bad_keys_change_nothing, open, close_store)

int main(void)
{
    const struct CMUnitTest local[] = {TESTS(open_local)};
    const struct CMUnitTest s3[] = {TESTS(open_s3)};
    int failed = cmocka_run_group_tests_name("storage suite: local backend", local, NULL, NULL);
    failed += cmocka_run_group_tests_name("storage suite: s3 backend", s3, server_up, server_down);
    return failed;
}
