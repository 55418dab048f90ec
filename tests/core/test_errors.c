/* core: error reports, names and HTTP statuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/core.h"

static void test_error_set_formats_and_returns_code(void **state)
{
    lh_error err;
    lh_error_clear(&err);
    assert_int_equal(lh_error_set(&err, LH_ENOENT, "dataset '%s' not found", "x"), LH_ENOENT);
    assert_int_equal(err.code, LH_ENOENT);
    assert_string_equal(err.msg, "dataset 'x' not found");
}

static void test_error_set_accepts_null(void **state)
{
    assert_int_equal(lh_error_set(NULL, LH_EIO, "ignored %d", 1), LH_EIO);
    assert_int_equal(lh_error_prefix(NULL, "p"), LH_OK);
    lh_error_clear(NULL);
}

static void test_error_set_may_reference_own_message(void **state)
{
    lh_error err;
    lh_error_set(&err, LH_EIO, "disk full");
    lh_error_set(&err, LH_EIO, "write a.parquet: %s", err.msg);
    assert_string_equal(err.msg, "write a.parquet: disk full");
}

static void test_error_prefix_keeps_code(void **state)
{
    lh_error err;
    lh_error_set(&err, LH_EINVAL, "column 'hours': expected number");
    assert_int_equal(lh_error_prefix(&err, "%s:%d", "timesheets.csv", 1042), LH_EINVAL);
    assert_string_equal(err.msg, "timesheets.csv:1042: column 'hours': expected number");
    assert_int_equal(err.code, LH_EINVAL);
}

static void test_error_wrap_returns_the_failure_without_err(void **state)
{
    /* The bug it replaces: `return lh_error_prefix(NULL, ...)` returned LH_OK on failure. */
    assert_int_equal(lh_error_wrap(NULL, LH_EIO, "local storage"), LH_EIO);
    lh_error err = {0};
    assert_int_equal(lh_error_wrap(&err, LH_EINVAL, "dataset"), LH_EINVAL);
    assert_int_equal(err.code, LH_EINVAL); /* a code-less err gets the code */
    assert_string_equal(err.msg, "dataset");
    lh_error_set(&err, LH_ENOENT, "no such folder");
    assert_int_equal(lh_error_wrap(&err, LH_EIO, "local storage"), LH_EIO);
    assert_int_equal(err.code, LH_ENOENT); /* an err that has a code keeps it */
    assert_string_equal(err.msg, "local storage: no such folder");
}

static void test_error_prefix_truncates_long_messages(void **state)
{
    lh_error err;
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    lh_error_set(&err, LH_EIO, "%s", big);
    assert_int_equal(strlen(err.msg), LH_ERROR_MSG_MAX - 1);
    lh_error_prefix(&err, "%s", big);
    assert_int_equal(strlen(err.msg), LH_ERROR_MSG_MAX - 1);
}

static void test_error_clear_resets(void **state)
{
    lh_error err;
    lh_error_set(&err, LH_EIO, "boom");
    lh_error_clear(&err);
    assert_int_equal(err.code, LH_OK);
    assert_string_equal(err.msg, "");
}

static void test_error_names_and_statuses(void **state)
{
    assert_string_equal(lh_error_name(LH_OK), "ok");
    assert_string_equal(lh_error_name(LH_EINVAL), "invalid_input");
    assert_string_equal(lh_error_name(LH_ENOENT), "not_found");
    assert_string_equal(lh_error_name(LH_ECONFLICT), "conflict");
    assert_string_equal(lh_error_name(12345), "unknown");
    for (int c = LH_OK; c >= LH_EUNAVAIL; c--)
        assert_string_not_equal(lh_error_name(c), "unknown");
    assert_int_equal(lh_error_http_status(LH_OK), 200);
    assert_int_equal(lh_error_http_status(LH_EINVAL), 400);
    assert_int_equal(lh_error_http_status(LH_ENOENT), 404);
    assert_int_equal(lh_error_http_status(LH_ECONFLICT), 409);
    assert_int_equal(lh_error_http_status(LH_EDENIED), 403);
    assert_int_equal(lh_error_http_status(LH_ETOOBIG), 413);
    assert_int_equal(lh_error_http_status(LH_EINTERNAL), 500);
    assert_int_equal(lh_error_http_status(LH_EUNAVAIL), 503);
}

static void test_identity_default(void **state)
{
    assert_string_equal(lh_identity_default.profile, "default");
    assert_string_equal(lh_identity_default.actor, "cli");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_set_formats_and_returns_code),
        cmocka_unit_test(test_error_set_accepts_null),
        cmocka_unit_test(test_error_set_may_reference_own_message),
        cmocka_unit_test(test_error_prefix_keeps_code),
        cmocka_unit_test(test_error_prefix_truncates_long_messages),
        cmocka_unit_test(test_error_wrap_returns_the_failure_without_err),
        cmocka_unit_test(test_error_clear_resets),
        cmocka_unit_test(test_error_names_and_statuses),
        cmocka_unit_test(test_identity_default),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
