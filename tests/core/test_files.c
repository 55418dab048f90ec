/* core: file helpers and logging output. */
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
#include <jansson.h>

#include "core/core.h"

static void test_path_join(void **state)
{
    const char *cases[][3] = {{"a", "b", "a/b"},          {"a/", "b", "a/b"}, {"a//", "/b", "a/b"},
                              {"/", "b", "/b"},           {"", "b", "b"},     {"a", "", "a"},
                              {"/x/y", "z/w", "/x/y/z/w"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *j = lh_path_join(cases[i][0], cases[i][1]);
        assert_string_equal(j, cases[i][2]);
        free(j);
    }
}

static void test_mkdir_p_read_and_rm_rf(void **state)
{
    char root[64];
    snprintf(root, sizeof root, "/tmp/lh_test_files_%d", (int)getpid());
    char *deep = lh_sprintf("%s/a/b/c", root);
    lh_error err;
    assert_int_equal(lh_mkdir_p(deep, &err), LH_OK);
    assert_int_equal(lh_mkdir_p(deep, &err), LH_OK); /* exists: fine */
    char *file = lh_sprintf("%s/f.txt", deep);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fputs("hello\nworld", f);
    fclose(f);
    char *data;
    size_t len;
    assert_int_equal(lh_file_read(file, &data, &len, &err), LH_OK);
    assert_int_equal(len, 11);
    assert_string_equal(data, "hello\nworld");
    free(data);
    char *under_file = lh_sprintf("%s/sub", file);
    assert_int_not_equal(lh_mkdir_p(under_file, &err), LH_OK);
    assert_int_equal(lh_rm_rf(root), LH_OK);
    struct stat st;
    assert_int_not_equal(stat(root, &st), 0);
    assert_int_equal(lh_file_read(file, &data, &len, &err), LH_ENOENT);
    assert_non_null(strstr(err.msg, "f.txt"));
    assert_int_equal(lh_rm_rf(root), LH_OK); /* absent: fine */
    free(under_file);
    free(file);
    free(deep);
}

/* Runs fn with stderr redirected to a temp file; returns what was written. */
static char *capture_stderr(void (*fn)(void))
{
    char path[] = "/tmp/lh_test_log_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    fn();
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fd);
    char *out;
    assert_int_equal(lh_file_read(path, &out, NULL, NULL), LH_OK);
    unlink(path);
    return out;
}

static void log_text(void)
{
    lh_log_setup(LH_LOG_INFO, false);
    lh_log(LH_LOG_DEBUG, "hidden", "k", "v", (const char *)NULL);
    lh_log(LH_LOG_INFO, "ingest_done", "dataset", "candidates", "file", "my file.csv",
           (const char *)NULL);
    lh_logf(LH_LOG_WARN, "slow: %d ms", 1200);
}

static void log_json(void)
{
    lh_log_setup(LH_LOG_DEBUG, true);
    lh_log(LH_LOG_ERROR, "commit_failed", "reason", "line1\nline2 \"q\"", "none",
           (const char *)NULL, (const char *)NULL);
    lh_log_setup(LH_LOG_INFO, false);
}

static void test_log_text_one_line_per_event(void **state)
{
    char *out = capture_stderr(log_text);
    assert_null(strstr(out, "hidden"));
    assert_non_null(strstr(out, "info  ingest_done dataset=candidates file=\"my file.csv\"\n"));
    assert_non_null(strstr(out, "warn  msg msg=\"slow: 1200 ms\"\n"));
    int lines = 0;
    for (char *p = out; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 2);
    free(out);
}

static void test_log_json_lines_parse(void **state)
{
    char *out = capture_stderr(log_json);
    assert_non_null(strchr(out, '\n'));
    assert_null(strchr(strchr(out, '\n') + 1, '\n'));
    json_t *j = json_loads(out, JSON_DISABLE_EOF_CHECK, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "event")), "commit_failed");
    assert_string_equal(json_string_value(json_object_get(j, "level")), "error");
    assert_string_equal(json_string_value(json_object_get(j, "reason")), "line1\nline2 \"q\"");
    assert_true(json_is_null(json_object_get(j, "none")));
    assert_non_null(json_object_get(j, "ts"));
    json_decref(j);
    free(out);
}

static void test_log_level_parse(void **state)
{
    lh_log_level lv;
    assert_int_equal(lh_log_level_parse("debug", &lv), LH_OK);
    assert_int_equal(lv, LH_LOG_DEBUG);
    assert_int_equal(lh_log_level_parse("WARN", &lv), LH_OK);
    assert_int_equal(lv, LH_LOG_WARN);
    assert_int_equal(lh_log_level_parse("off", &lv), LH_OK);
    assert_int_equal(lv, LH_LOG_OFF);
    assert_int_equal(lh_log_level_parse("loud", &lv), LH_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_join),
        cmocka_unit_test(test_mkdir_p_read_and_rm_rf),
        cmocka_unit_test(test_log_text_one_line_per_event),
        cmocka_unit_test(test_log_json_lines_parse),
        cmocka_unit_test(test_log_level_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
