/* core: the secrets provider (file permissions, format, environment precedence, no values in
 * messages) and the storage keys of the configuration. */
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

#include "core/core.h"
#include "testutil.h"

static char *dir;

static int setup(void **state)
{
    unsetenv("LAKEHOUSE_S3_ACCESS_KEY_ID");
    unsetenv("LAKEHOUSE_S3_SECRET_ACCESS_KEY");
    unsetenv("LAKEHOUSE_S3_SESSION_TOKEN");
    dir = tu_tmpdir("secrets");
    return 0;
}

static int teardown(void **state)
{
    tu_rmdir(dir);
    return 0;
}

static char *secrets_file(const char *text, mode_t mode)
{
    char *p = tu_write(dir, "secrets.yaml", text, -1);
    chmod(p, mode);
    return p;
}

static void test_secrets_file_0600_is_read(void **state)
{
    char *p =
        secrets_file("s3_access_key_id: AKID\ns3_secret_access_key: \"s3cr3t-value\"\n", 0600);
    lh_secrets *s;
    lh_error err;
    assert_int_equal(lh_secrets_load(p, &s, &err), LH_OK);
    assert_string_equal(lh_secrets_get(s, "s3_access_key_id"), "AKID");
    assert_string_equal(lh_secrets_get(s, "s3_secret_access_key"), "s3cr3t-value");
    assert_null(lh_secrets_get(s, "s3_session_token"));
    assert_null(lh_secrets_get(s, "unknown"));
    lh_secrets_free(s);
    free(p);
}

static void test_secrets_file_readable_by_others_is_refused(void **state)
{
    mode_t modes[] = {0644, 0640, 0604, 0660};
    for (size_t i = 0; i < 4; i++) {
        char *p = secrets_file("s3_secret_access_key: s3cr3t-value\n", modes[i]);
        lh_secrets *s = (lh_secrets *)1;
        lh_error err;
        assert_int_equal(lh_secrets_load(p, &s, &err), LH_EDENIED);
        assert_null(s);
        char want[16];
        snprintf(want, sizeof want, "mode %04o", (unsigned)modes[i]);
        assert_non_null(strstr(err.msg, want));
        assert_non_null(strstr(err.msg, "chmod 600"));
        assert_null(strstr(err.msg, "s3cr3t"));
        free(p);
    }
    /* Owned by someone else (only root can arrange that; others skip this part). */
    char *o = secrets_file("s3_secret_access_key: s3cr3t-value\n", 0600);
    if (chown(o, 65534, 65534) == 0) {
        lh_secrets *s = NULL;
        lh_error err;
        assert_int_equal(lh_secrets_load(o, &s, &err), LH_EDENIED);
        assert_non_null(strstr(err.msg, "owned by uid 65534"));
        assert_null(strstr(err.msg, "s3cr3t"));
    }
    unlink(o);
    free(o);
    char *p = secrets_file("s3_secret_access_key: x\n", 0400); /* stricter is fine */
    lh_secrets *s;
    lh_error err;
    assert_int_equal(lh_secrets_load(p, &s, &err), LH_OK);
    lh_secrets_free(s);
    free(p);
}

static void test_secrets_file_problems_name_the_line_never_the_value(void **state)
{
    const char *bad[] = {"s3_secret_access_key: s3cr3t\npassword: s3cr3t2\n", "- s3cr3t\n",
                         "s3_secret_access_key: s3cr3t\ns3_secret_access_key: s3cr3t\n",
                         "s3_secret_access_key: [s3cr3t]\n", "s3_secret_access_key: 's3cr3t\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *p = secrets_file(bad[i], 0600);
        lh_secrets *s;
        lh_error err;
        assert_int_equal(lh_secrets_load(p, &s, &err), LH_EINVAL);
        assert_non_null(strstr(err.msg, "secrets file"));
        assert_non_null(strstr(err.msg, ":"));
        if (strstr(err.msg, "s3cr3t")) fail_msg("case %zu leaks the value: %s", i, err.msg);
        free(p);
    }
    lh_secrets *s;
    lh_error err;
    char *missing = lh_path_join(dir, "absent.yaml");
    assert_int_equal(lh_secrets_load(missing, &s, &err), LH_ENOENT);
    assert_non_null(strstr(err.msg, "absent.yaml"));
    free(missing);
    assert_int_equal(lh_secrets_load(dir, &s, &err), LH_EDENIED); /* a directory */
}

static void test_environment_overrides_the_file(void **state)
{
    char *p = secrets_file("s3_access_key_id: FROMFILE\ns3_secret_access_key: filesecret\n", 0600);
    setenv("LAKEHOUSE_S3_SECRET_ACCESS_KEY", "envsecret", 1);
    setenv("LAKEHOUSE_S3_SESSION_TOKEN", "", 1); /* empty counts as unset */
    lh_secrets *s;
    lh_error err;
    assert_int_equal(lh_secrets_load(p, &s, &err), LH_OK);
    assert_string_equal(lh_secrets_get(s, "s3_access_key_id"), "FROMFILE");
    assert_string_equal(lh_secrets_get(s, "s3_secret_access_key"), "envsecret");
    assert_null(lh_secrets_get(s, "s3_session_token"));
    lh_secrets_free(s);
    assert_int_equal(lh_secrets_load(NULL, &s, &err), LH_OK); /* environment only */
    assert_string_equal(lh_secrets_get(s, "s3_secret_access_key"), "envsecret");
    assert_null(lh_secrets_get(s, "s3_access_key_id"));
    lh_secrets_free(s);
    lh_secrets_free(NULL);
    unsetenv("LAKEHOUSE_S3_SECRET_ACCESS_KEY");
    unsetenv("LAKEHOUSE_S3_SESSION_TOKEN");
    free(p);
}

static void test_config_storage_keys(void **state)
{
    lh_config cfg;
    lh_error err;
    assert_int_equal(lh_config_load(&cfg, NULL, &err), LH_OK);
    assert_string_equal(cfg.storage_backend, "local");
    assert_string_equal(cfg.s3_region, "us-east-1");
    assert_true(cfg.s3_path_style);
    assert_string_equal(cfg.s3_conditional_put, "auto");
    assert_true(cfg.s3_multipart_threshold == (int64_t)64 << 20);
    assert_null(cfg.s3_bucket);
    assert_null(cfg.secrets_file);
    lh_config_free(&cfg);

    char *p = tu_write(dir, "lake.yaml",
                       "storage_backend: s3\ns3_endpoint: http://127.0.0.1:9000\n"
                       "s3_bucket: lake\ns3_prefix: prod\ns3_path_style: false\n"
                       "s3_part_size: 8MiB\ncache_max_bytes: 2GiB\nsecrets_file: /etc/lh.yaml\n",
                       -1);
    setenv("LAKEHOUSE_S3_RETRY_MAX_MS", "1500", 1);
    assert_int_equal(lh_config_load(&cfg, p, &err), LH_OK);
    assert_string_equal(cfg.storage_backend, "s3");
    assert_string_equal(cfg.s3_endpoint, "http://127.0.0.1:9000");
    assert_string_equal(cfg.s3_prefix, "prod");
    assert_false(cfg.s3_path_style);
    assert_true(cfg.s3_part_size == (int64_t)8 << 20);
    assert_true(cfg.cache_max_bytes == (int64_t)2 << 30);
    assert_int_equal(cfg.s3_retry_max_ms, 1500);
    assert_string_equal(cfg.secrets_file, "/etc/lh.yaml");
    unsetenv("LAKEHOUSE_S3_RETRY_MAX_MS");
    assert_int_equal(lh_config_set(&cfg, "s3_part_size", "1MiB", &err), LH_EINVAL);
    assert_int_equal(lh_config_set(&cfg, "s3_prefix", "", &err), LH_OK);
    assert_null(cfg.s3_prefix);
    lh_config_free(&cfg);
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_secrets_file_0600_is_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secrets_file_readable_by_others_is_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_secrets_file_problems_name_the_line_never_the_value,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_environment_overrides_the_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_storage_keys, setup, teardown),
    };
    return cmocka_run_group_tests_name("core: secrets and storage config", tests, NULL, NULL);
}
