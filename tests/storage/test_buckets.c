/* storage: the bucket registry from the configuration, and rescue fallback for reads —
 * between two local folders, and from a stopped S3 server to a local rescue bucket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "s3server.h"
#include "storage/storage.h"
#include "testutil.h"

static char *dir;

static int setup(void **state)
{
    dir = tu_tmpdir("buckets");
    lh_storage_errors_reset();
    return 0;
}

static int teardown(void **state)
{
    lh_storage_errors_reset();
    tu_rmdir(dir);
    return 0;
}

/* Loads a configuration from YAML text (with $D replaced by the test folder). */
static int load(const char *yaml, lh_config *cfg, lh_error *err)
{
    lh_buf b = {0};
    for (const char *p = yaml; *p; p++) {
        if (p[0] == '$' && p[1] == 'D') {
            lh_buf_puts(&b, dir);
            p++;
        } else {
            lh_buf_putc(&b, *p);
        }
    }
    char *path = tu_write(dir, "lake.yaml", b.data, -1);
    lh_buf_free(&b);
    int rc = lh_config_load(cfg, path, err);
    free(path);
    return rc;
}

static void put_in(const char *folder, const char *key, const char *val)
{
    lh_storage *st;
    lh_error err;
    assert_int_equal(lh_storage_open_local(folder, &st, &err), LH_OK);
    assert_int_equal(lh_storage_put(st, key, val, strlen(val), &err), LH_OK);
    lh_storage_close(st);
}

static const char two_local[] = "data_dir: $D/main\n"
                                "rescue_bucket: rescue\n"
                                "buckets:\n"
                                "  rescue:\n"
                                "    storage_backend: local\n"
                                "    data_dir: $D/copy\n"
                                "  archive:\n"
                                "    storage_backend: local\n"
                                "    data_dir: $D/archive\n";

static void test_registry_names_and_rescue_between_local_buckets(void **state)
{
    lh_config cfg;
    lh_error err;
    assert_int_equal(load(two_local, &cfg, &err), LH_OK);
    assert_int_equal(cfg.nbuckets, 2);
    lh_storage *st;
    assert_int_equal(lh_storage_open_config(&cfg, &st, &err), LH_OK);
    assert_string_equal(lh_storage_bucket(st), "primary");
    assert_string_equal(lh_storage_bucket_names(st), "primary, rescue, archive");
    assert_string_equal(lh_storage_backend(st), "local");

    char copy[512];
    snprintf(copy, sizeof copy, "%s/copy", dir);
    put_in(copy, "data/ds/only-in-rescue.parquet", "rescued bytes");
    assert_int_equal(lh_storage_put(st, "data/ds/main.parquet", "main bytes", 10, &err), LH_OK);

    char *out;
    size_t n;
    assert_int_equal(lh_storage_get(st, "data/ds/main.parquet", &out, &n, &err), LH_OK);
    assert_string_equal(out, "main bytes");
    free(out);
    /* Missing where it should exist: served by the rescue bucket, and journaled. */
    assert_int_equal(lh_storage_get(st, "data/ds/only-in-rescue.parquet", &out, &n, &err), LH_OK);
    assert_string_equal(out, "rescued bytes");
    free(out);
    char buf[1024];
    const char *p = lh_storage_local_path(st, "data/ds/only-in-rescue.parquet", buf, sizeof buf);
    assert_non_null(p);
    assert_non_null(strstr(p, "/objects/rescue-rescue/")); /* a copy where DuckDB may read */
    char *x;
    assert_int_equal(lh_file_read(p, &x, &n, &err), LH_OK);
    assert_string_equal(x, "rescued bytes");
    free(x);
    /* Missing in both: a plain miss, nothing journaled for it. */
    assert_int_equal(lh_storage_get(st, "data/ds/nowhere", &out, &n, &err), LH_ENOENT);
    /* Writes never go to the rescue bucket. */
    lh_object_info info;
    lh_storage *rescue;
    assert_int_equal(lh_storage_open_local(copy, &rescue, &err), LH_OK);
    assert_int_equal(lh_storage_head(rescue, "data/ds/main.parquet", &info, &err), LH_ENOENT);
    lh_storage_close(rescue);

    lh_storage_error_event *ev;
    lh_storage_errors_query("primary", NULL, 0, 0, &ev, &n);
    assert_int_equal(n, 2);
    assert_string_equal(ev[0].op, "get");
    assert_string_equal(ev[0].key, "data/ds/only-in-rescue.parquet");
    assert_string_equal(ev[0].rescued_by, "rescue");
    assert_int_equal(ev[0].code, LH_ENOENT);
    assert_string_equal(ev[1].op, "local_path");
    free(ev);
    lh_storage_close(st);

    /* `bucket` picks another bucket as the lake. */
    assert_int_equal(lh_config_set(&cfg, "bucket", "archive", &err), LH_OK);
    assert_int_equal(lh_storage_open_config(&cfg, &st, &err), LH_OK);
    assert_string_equal(lh_storage_bucket(st), "archive");
    lh_storage_close(st);
    assert_int_equal(lh_config_set(&cfg, "bucket", "nope", &err), LH_OK);
    assert_int_equal(lh_storage_open_config(&cfg, &st, &err), LH_EINVAL);
    assert_string_equal(err.msg, "unknown bucket 'nope' (known: primary, rescue, archive)");
    lh_config_free(&cfg);
}

static void test_bucket_config_errors_name_the_problem(void **state)
{
    struct {
        const char *yaml, *want;
    } cases[] = {
        {"buckets:\n  primary:\n    storage_backend: local\n    data_dir: /x\n", "'primary'"},
        {"buckets:\n  Bad:\n    storage_backend: local\n    data_dir: /x\n", "bucket name 'Bad'"},
        {"buckets:\n  r:\n    storage_backend: local\n", "needs data_dir"},
        {"buckets:\n  r:\n    storage_backend: s3\n    s3_bucket: b\n", "needs s3_endpoint"},
        {"buckets:\n  r:\n    storage_backend: ftp\n    data_dir: /x\n", "local or s3"},
        {"buckets:\n  r:\n    storage_backend: local\n    data_dir: /x\n    colour: red\n",
         "unknown key 'colour'"},
        {"buckets:\n  r:\n    storage_backend: local\n    data_dir: /x\n  r:\n"
         "    storage_backend: local\n    data_dir: /y\n",
         "given twice"},
        {"buckets:\n  - r\n", "expected a mapping"},
        {"buckets:\n  r:\n    storage_backend: local\n    data_dir: /x\n    s3_path_style: maybe\n",
         "s3_path_style"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lh_config cfg;
        lh_error err;
        assert_int_equal(load(cases[i].yaml, &cfg, &err), LH_EINVAL);
        if (!strstr(err.msg, cases[i].want))
            fail_msg("case %zu: '%s' not in: %s", i, cases[i].want, err.msg);
        assert_non_null(strstr(err.msg, "lake.yaml:"));
        assert_int_equal(cfg.nbuckets, 0); /* defaults after a failed load */
        lh_config_free(&cfg);
    }
    lh_config cfg;
    lh_error err;
    lh_storage *st;
    assert_int_equal(load("data_dir: $D/m\nrescue_bucket: ghost\n", &cfg, &err), LH_OK);
    assert_int_equal(lh_storage_open_config(&cfg, &st, &err), LH_EINVAL);
    assert_non_null(strstr(err.msg, "rescue_bucket 'ghost' is unknown"));
    lh_config_free(&cfg);
}

static void test_reads_fall_back_to_rescue_when_the_s3_server_is_down(void **state)
{
    s3srv srv = {0};
    assert_int_equal(s3srv_start(&srv, 0), 0);
    setenv("LAKEHOUSE_S3_ACCESS_KEY_ID", "S3RVER", 1);
    setenv("LAKEHOUSE_S3_SECRET_ACCESS_KEY", "S3RVER", 1);
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "data_dir: $D/lake\nstorage_backend: s3\ns3_endpoint: %s\ns3_bucket: lake\n"
             "s3_retry_max_ms: 300\nrescue_bucket: rescue\n"
             "buckets:\n  rescue:\n    storage_backend: local\n    data_dir: $D/rescue\n",
             srv.endpoint);
    lh_config cfg;
    lh_error err;
    assert_int_equal(load(yaml, &cfg, &err), LH_OK);
    lh_storage *st;
    assert_int_equal(lh_storage_open_config(&cfg, &st, &err), LH_OK);
    assert_string_equal(lh_storage_backend(st), "s3");
    /* The same object in both buckets, as replication would leave it. */
    assert_int_equal(lh_storage_put(st, "data/ds/a.parquet", "AAAA", 4, &err), LH_OK);
    char rescue_dir[512];
    snprintf(rescue_dir, sizeof rescue_dir, "%s/rescue", dir);
    put_in(rescue_dir, "data/ds/a.parquet", "AAAA");

    s3srv_stop(&srv);
    char *out;
    size_t n;
    assert_int_equal(lh_storage_get(st, "data/ds/a.parquet", &out, &n, &err), LH_OK);
    assert_string_equal(out, "AAAA");
    free(out);
    lh_object_list l;
    assert_int_equal(lh_storage_list_all(st, "data/", &l, &err), LH_OK);
    assert_int_equal(l.count, 1);
    lh_storage_list_free(&l);
    /* Writes have no fallback: they fail, clearly. */
    assert_int_equal(lh_storage_put(st, "data/ds/b.parquet", "B", 1, &err), LH_EUNAVAIL);

    lh_storage_error_event *ev;
    lh_storage_errors_query("primary", "get", 0, 0, &ev, &n);
    assert_int_equal(n, 2); /* the failure itself, then the fallback */
    assert_int_equal(ev[0].code, LH_EUNAVAIL);
    assert_true(ev[0].attempts >= 2);
    assert_string_equal(ev[0].rescued_by, "");
    assert_string_equal(ev[1].rescued_by, "rescue");
    free(ev);
    lh_storage_errors_query("primary", "put", 0, 0, &ev, &n);
    assert_int_equal(n, 1);
    free(ev);
    lh_storage_close(st);
    lh_config_free(&cfg);
    s3srv_destroy(&srv);
    unsetenv("LAKEHOUSE_S3_ACCESS_KEY_ID");
    unsetenv("LAKEHOUSE_S3_SECRET_ACCESS_KEY");
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_registry_names_and_rescue_between_local_buckets),
        T(test_bucket_config_errors_name_the_problem),
        T(test_reads_fall_back_to_rescue_when_the_s3_server_is_down),
    };
    return cmocka_run_group_tests_name("storage: buckets and rescue", tests, NULL, NULL);
}
