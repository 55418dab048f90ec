/* core: configuration defaults, YAML file, environment overrides, errors; lh_parse_size. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/core.h"

static const char *env_names[] = {
    "LAKEHOUSE_DATA",
    "LAKEHOUSE_LISTEN",
    "LAKEHOUSE_INGEST_DIR",
    "LAKEHOUSE_CACHE_DIR",
    "LAKEHOUSE_LOG_LEVEL",
    "LAKEHOUSE_LOG_JSON",
    "LAKEHOUSE_MAX_BODY",
    "LAKEHOUSE_MAX_JSON",
    "LAKEHOUSE_THREADS",
    "LAKEHOUSE_QUERY_MEMORY_MB",
    "LAKEHOUSE_QUERY_TIMEOUT_MS",
    "LAKEHOUSE_QUERY_ROW_LIMIT",
    "LAKEHOUSE_QUERY_THREADS",
    "LAKEHOUSE_UI_DIR",
};

static char cfg_path[64];

static int setup(void **state)
{
    for (size_t i = 0; i < sizeof env_names / sizeof env_names[0]; i++)
        unsetenv(env_names[i]);
    snprintf(cfg_path, sizeof cfg_path, "/tmp/lh_test_config_%d.yaml", (int)getpid());
    return 0;
}

static int teardown(void **state)
{
    unlink(cfg_path);
    return 0;
}

static void write_cfg(const char *text)
{
    FILE *f = fopen(cfg_path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_config_defaults(void **state)
{
    lh_config cfg;
    lh_error err;
    assert_int_equal(lh_config_load(&cfg, NULL, &err), LH_OK);
    assert_string_equal(cfg.data_dir, "./lake");
    assert_string_equal(cfg.listen, "127.0.0.1:8080");
    assert_string_equal(cfg.ingest_dir, "./ingest");
    assert_string_equal(cfg.cache_dir, "./lake/.cache");
    assert_string_equal(cfg.log_level, "info");
    assert_false(cfg.log_json);
    assert_true(cfg.max_body_bytes == 1LL << 30);
    assert_true(cfg.max_json_bytes == 1LL << 20);
    assert_int_equal(cfg.threads, 2 * lh_cpu_count());
    assert_int_equal(cfg.query_threads, lh_cpu_count());
    assert_true(cfg.query_memory_mb >= 256);
    assert_int_equal(cfg.query_timeout_ms, 30000);
    assert_true(cfg.query_row_limit == 10000);
    assert_null(cfg.ui_dir); /* the gateway looks next to the executable */
    lh_config_free(&cfg);
    lh_config_free(NULL);
}

static void test_config_file_sets_keys(void **state)
{
    write_cfg("# lakehouse config\n"
              "data_dir: /srv/lake\n"
              "listen: \"0.0.0.0:9000\"\n"
              "log_level: debug\n"
              "log_json: yes\n"
              "max_body_bytes: 10MB\n"
              "max_json_bytes: 64k\n"
              "threads: 3\n"
              "query_memory_mb: 512\n"
              "query_timeout_ms: 1500\n"
              "query_row_limit: 77\n"
              "query_threads: 1\n");
    lh_config cfg;
    lh_error err;
    assert_int_equal(lh_config_load(&cfg, cfg_path, &err), LH_OK);
    assert_string_equal(cfg.data_dir, "/srv/lake");
    assert_string_equal(cfg.ingest_dir, "/srv/ingest"); /* follows data_dir */
    assert_string_equal(cfg.cache_dir, "/srv/lake/.cache");
    assert_string_equal(cfg.listen, "0.0.0.0:9000");
    assert_string_equal(cfg.log_level, "debug");
    assert_true(cfg.log_json);
    assert_true(cfg.max_body_bytes == 10LL << 20);
    assert_true(cfg.max_json_bytes == 64LL << 10);
    assert_int_equal(cfg.threads, 3);
    assert_true(cfg.query_memory_mb == 512);
    assert_int_equal(cfg.query_timeout_ms, 1500);
    assert_true(cfg.query_row_limit == 77);
    assert_int_equal(cfg.query_threads, 1);
    lh_config_free(&cfg);
}

static void test_config_env_overrides_file(void **state)
{
    write_cfg("data_dir: /srv/lake\nthreads: 3\ncache_dir: /var/cache/lh\nui_dir: /opt/a\n");
    setenv("LAKEHOUSE_DATA", "/data/lake", 1);
    setenv("LAKEHOUSE_UI_DIR", "/opt/lakehouse/web", 1);
    setenv("LAKEHOUSE_THREADS", "9", 1);
    setenv("LAKEHOUSE_MAX_BODY", "2GiB", 1);
    setenv("LAKEHOUSE_LOG_JSON", "true", 1);
    setenv("LAKEHOUSE_INGEST_DIR", "off", 1);
    setenv("LAKEHOUSE_LISTEN", "", 1); /* empty counts as unset */
    lh_config cfg;
    lh_error err;
    assert_int_equal(lh_config_load(&cfg, cfg_path, &err), LH_OK);
    assert_string_equal(cfg.data_dir, "/data/lake");
    assert_string_equal(cfg.cache_dir, "/var/cache/lh"); /* explicit: does not follow */
    assert_null(cfg.ingest_dir);
    assert_string_equal(cfg.listen, "127.0.0.1:8080");
    assert_int_equal(cfg.threads, 9);
    assert_true(cfg.max_body_bytes == 2LL << 30);
    assert_true(cfg.log_json);
    assert_string_equal(cfg.ui_dir, "/opt/lakehouse/web");
    lh_config_free(&cfg);
    setup(state);
}

static void test_config_unknown_key_names_file_line_key(void **state)
{
    write_cfg("data_dir: /srv/lake\n\nthreadz: 4\n");
    lh_config cfg;
    lh_error err;
    assert_int_equal(lh_config_load(&cfg, cfg_path, &err), LH_EINVAL);
    char want[128];
    snprintf(want, sizeof want, "%s:3: unknown key 'threadz'", cfg_path);
    if (!strstr(err.msg, want)) fail_msg("message '%s' lacks '%s'", err.msg, want);
    /* cfg is left with defaults */
    assert_string_equal(cfg.data_dir, "./lake");
    lh_config_free(&cfg);
}

static void test_config_type_errors_name_line_and_key(void **state)
{
    struct {
        const char *text;
        const char *needle;
    } cases[] = {
        {"threads: many\n", ":1: key 'threads': expected an integer, got 'many'"},
        {"listen: x\nlog_json: maybe\n", ":2: key 'log_json': expected true or false"},
        {"max_body_bytes: 10XB\n", ":1: key 'max_body_bytes': expected a size"},
        {"log_level: loud\n", ":1: key 'log_level'"},
        {"threads: 0\n", ":1: key 'threads': 0 is out of range"},
        {"data_dir:\n  - a\n", ":2: key 'data_dir': expected a value, got a list"},
        {"data_dir: ~\n", ":1: key 'data_dir': missing value"},
        {"threads: 1\nthreads: 2\n", ":2: key 'threads' is given twice"},
        {"- a\n- b\n", ":1: expected a mapping"},
        {"threads: 'open\n", "YAML syntax error"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_cfg(cases[i].text);
        lh_config cfg;
        lh_error err;
        lh_error_clear(&err);
        assert_int_equal(lh_config_load(&cfg, cfg_path, &err), LH_EINVAL);
        if (!strstr(err.msg, cases[i].needle) || !strstr(err.msg, cfg_path))
            fail_msg("case %zu: message '%s' lacks '%s'", i, err.msg, cases[i].needle);
        lh_config_free(&cfg);
    }
}

static void test_config_env_error_names_variable(void **state)
{
    setenv("LAKEHOUSE_QUERY_TIMEOUT_MS", "soon", 1);
    lh_config cfg;
    lh_error err;
    assert_int_equal(lh_config_load(&cfg, NULL, &err), LH_EINVAL);
    assert_non_null(strstr(err.msg, "LAKEHOUSE_QUERY_TIMEOUT_MS"));
    lh_config_free(&cfg);
    unsetenv("LAKEHOUSE_QUERY_TIMEOUT_MS");
}

static void test_config_missing_file_is_error(void **state)
{
    lh_config cfg;
    lh_error err;
    assert_int_equal(lh_config_load(&cfg, "/nonexistent/lh.yaml", &err), LH_ENOENT);
    assert_non_null(strstr(err.msg, "/nonexistent/lh.yaml"));
    lh_config_free(&cfg);
}

static void test_config_empty_file_and_null_ingest_dir(void **state)
{
    write_cfg("# nothing here\n");
    lh_config cfg;
    lh_error err;
    assert_int_equal(lh_config_load(&cfg, cfg_path, &err), LH_OK);
    assert_string_equal(cfg.data_dir, "./lake");
    lh_config_free(&cfg);
    write_cfg("ingest_dir: ~\n");
    assert_int_equal(lh_config_load(&cfg, cfg_path, &err), LH_OK);
    assert_null(cfg.ingest_dir);
    lh_config_free(&cfg);
}

static void test_config_set_data_dir_rederives(void **state)
{
    lh_config cfg;
    lh_error err;
    assert_int_equal(lh_config_load(&cfg, NULL, &err), LH_OK);
    assert_int_equal(lh_config_set(&cfg, "data_dir", "lake2", &err), LH_OK);
    assert_string_equal(cfg.ingest_dir, "./ingest");
    assert_string_equal(cfg.cache_dir, "lake2/.cache");
    assert_int_equal(lh_config_set(&cfg, "bogus", "1", &err), LH_EINVAL);
    assert_non_null(strstr(err.msg, "unknown key 'bogus'"));
    lh_config_free(&cfg);
}

static void test_parse_size(void **state)
{
    struct {
        const char *s;
        int64_t v;
    } ok[] = {{"512", 512},
              {"64k", 65536},
              {"10MB", 10485760},
              {"1GiB", 1073741824},
              {"1.5G", 1610612736},
              {"2 kb", 2048},
              {"7b", 7},
              {"3T", 3298534883328LL},
              {"0", 0}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t v = -1;
        assert_int_equal(lh_parse_size(ok[i].s, &v), LH_OK);
        assert_true(v == ok[i].v);
    }
    const char *bad[] = {
        "", "k", "-1", "10XB", "1.5", "12 MBs", "99999999999999999999", "9000000000T", "1.G", NULL};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t v;
        if (lh_parse_size(bad[i], &v) != LH_EINVAL)
            fail_msg("'%s' should be rejected", bad[i] ? bad[i] : "(null)");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_config_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_file_sets_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_env_overrides_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_unknown_key_names_file_line_key, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_config_type_errors_name_line_and_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_env_error_names_variable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_missing_file_is_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_empty_file_and_null_ingest_dir, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_config_set_data_dir_rederives, setup, teardown),
        cmocka_unit_test(test_parse_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
