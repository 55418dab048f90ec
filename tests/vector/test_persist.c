/* Index files: truncated, corrupted, foreign or trailing-garbage files are rejected with
 * LH_ECORRUPT naming the problem; a damaged graph loaded without body checksums never makes a
 * search crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vector/vdata.h"
#include "vector/vector.h"

static char good[] = "/tmp/lh_persist_good_XXXXXX";
static char *bytes;
static size_t nbytes;
static float *queries;

static int setup(void **state)
{
    vdata_spec sp = {.n = 3000,
                     .nq = 20,
                     .dim = 32,
                     .clusters = 8,
                     .sub = 6,
                     .spread = 0.6f,
                     .noise = 0.05f,
                     .seed = 9};
    float *b = malloc(sp.n * sp.dim * sizeof(float));
    queries = malloc(sp.nq * sp.dim * sizeof(float));
    vdata_generate(&sp, b, queries);
    lh_hnsw_params p;
    lh_hnsw_params_default(&p);
    p.quant = LH_QUANT_INT8; /* every section present */
    lh_hnsw *h;
    if (lh_hnsw_build(b, sp.n, sp.dim, &p, &h, NULL) != LH_OK) return -1;
    for (int64_t i = 0; i < 100; i += 7)
        lh_hnsw_delete(h, i, NULL);
    int fd = mkstemp(good);
    close(fd);
    if (lh_hnsw_save(h, good, NULL) != LH_OK) return -1;
    lh_hnsw_free(h);
    free(b);
    if (lh_file_read(good, &bytes, &nbytes, NULL) != LH_OK) return -1;
    return 0;
}

static int teardown(void **state)
{
    unlink(good);
    free(bytes);
    free(queries);
    return 0;
}

static void write_variant(const char *path, const char *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static int load_variant(const char *data, size_t n, bool verify, lh_error *err, lh_hnsw **out)
{
    char path[] = "/tmp/lh_persist_bad_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    write_variant(path, data, n);
    lh_hnsw *h = NULL;
    int rc = lh_hnsw_load(path, verify, &h, err);
    unlink(path); /* the mapping stays valid after unlink */
    if (out)
        *out = h;
    else
        lh_hnsw_free(h);
    return rc;
}

static void test_intact_file_loads(void **state)
{
    lh_error err = {0};
    assert_int_equal(load_variant(bytes, nbytes, true, &err, NULL), LH_OK);
}

static void test_truncated_file_is_rejected_at_every_cut(void **state)
{
    size_t cuts[] = {0,    1,          100,        4095,          4096,
                     4097, nbytes / 3, nbytes / 2, nbytes - 4096, nbytes - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        lh_error err = {0};
        int rc = load_variant(bytes, cuts[i], false, &err, NULL);
        if (rc != LH_ECORRUPT) print_error("cut at %zu: rc %d (%s)\n", cuts[i], rc, err.msg);
        assert_int_equal(rc, LH_ECORRUPT);
        assert_non_null(strstr(err.msg, "truncated"));
    }
}

static void test_trailing_bytes_are_rejected(void **state)
{
    char *big = malloc(nbytes + 10);
    memcpy(big, bytes, nbytes);
    memset(big + nbytes, 0, 10);
    lh_error err = {0};
    assert_int_equal(load_variant(big, nbytes + 10, true, &err, NULL), LH_ECORRUPT);
    assert_non_null(strstr(err.msg, "trailing"));
    free(big);
}

static void test_bad_magic_and_version_are_named(void **state)
{
    char *c = malloc(nbytes);
    lh_error err = {0};
    memcpy(c, bytes, nbytes);
    c[0] = 'X';
    assert_int_equal(load_variant(c, nbytes, true, &err, NULL), LH_ECORRUPT);
    assert_non_null(strstr(err.msg, "magic"));
    memcpy(c, bytes, nbytes);
    c[8] = 99; /* version field */
    assert_int_equal(load_variant(c, nbytes, true, &err, NULL), LH_ECORRUPT);
    assert_non_null(strstr(err.msg, "version 99"));
    free(c);
}

static void test_flipped_byte_anywhere_is_caught_by_checksums(void **state)
{
    char *c = malloc(nbytes);
    uint64_t s = 77;
    int caught = 0, tried = 0;
    for (int i = 0; i < 300; i++) {
        size_t off = (size_t)(vd_next(&s) % nbytes);
        memcpy(c, bytes, nbytes);
        c[off] ^= (char)(1u << (vd_next(&s) % 8));
        /* bytes in header padding and section padding are not covered: skip those */
        lh_hnsw *h = NULL;
        lh_error err = {0};
        int rc = load_variant(c, nbytes, true, &err, &h);
        if (rc == LH_OK) {
            lh_hnsw_free(h);
            continue; /* padding */
        }
        tried++;
        assert_int_equal(rc, LH_ECORRUPT);
        assert_true(strstr(err.msg, "checksum") || strstr(err.msg, "magic") ||
                    strstr(err.msg, "version"));
        caught++;
    }
    print_message("%d of 300 random bit flips hit data and were rejected\n", caught);
    assert_true(tried > 50);
    free(c);
}

static void test_damaged_graph_loaded_without_verify_never_crashes(void **state)
{
    /* With verify=false body checksums are skipped (fast cold load); structure checks and
     * bounds checks in the search loop must still keep every access inside the file. */
    char *c = malloc(nbytes);
    uint64_t s = 1234;
    for (int i = 0; i < 40; i++) {
        memcpy(c, bytes, nbytes);
        for (int f = 0; f < 200; f++) {
            size_t off = 4096 + (size_t)(vd_next(&s) % (nbytes - 4096));
            c[off] = (char)vd_next(&s);
        }
        lh_hnsw *h = NULL;
        if (load_variant(c, nbytes, false, NULL, &h) != LH_OK) continue;
        for (int q = 0; q < 20; q++) {
            lh_vector_hit hits[10];
            size_t cnt;
            lh_hnsw_search_opts o = {.k = 10, .ef_search = 50};
            lh_hnsw_search(h, NULL, queries + q * 32, &o, hits, &cnt, NULL);
            for (size_t j = 0; j < cnt; j++)
                assert_true(hits[j].id >= 0 && hits[j].id < 3000);
        }
        lh_hnsw_free(h);
    }
    free(c);
}

static void test_missing_file_is_not_found(void **state)
{
    lh_hnsw *h;
    lh_error err = {0};
    assert_int_equal(lh_hnsw_load("/nonexistent/lh/hnsw.bin", true, &h, &err), LH_ENOENT);
    assert_non_null(strstr(err.msg, "/nonexistent/lh/hnsw.bin"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_intact_file_loads),
        cmocka_unit_test(test_truncated_file_is_rejected_at_every_cut),
        cmocka_unit_test(test_trailing_bytes_are_rejected),
        cmocka_unit_test(test_bad_magic_and_version_are_named),
        cmocka_unit_test(test_flipped_byte_anywhere_is_caught_by_checksums),
        cmocka_unit_test(test_damaged_graph_loaded_without_verify_never_crashes),
        cmocka_unit_test(test_missing_file_is_not_found),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
