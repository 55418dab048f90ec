/* core: UTF-8 validation and name validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/core.h"

static void test_utf8_accepts_valid(void **state)
{
    const char *ok[] = {"",
                        "plain ascii",
                        "caf\xC3\xA9",
                        "\xE2\x82\xAC",
                        "\xF0\x9F\x98\x80",
                        "\xF4\x8F\xBF\xBF",
                        "\xEF\xBB\xBF"
                        "bom"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        assert_true(lh_utf8_valid(ok[i], strlen(ok[i]), NULL));
}

static void test_utf8_rejects_invalid_with_offset(void **state)
{
    struct {
        const char *s;
        size_t n, off;
    } bad[] = {
        {"ab\x80", 3, 2},             /* lone continuation byte */
        {"abc\xC3", 4, 3},            /* truncated 2-byte */
        {"\xE2\x82", 2, 0},           /* truncated 3-byte */
        {"x\xC0\xAF", 3, 1},          /* overlong '/' */
        {"x\xE0\x80\xAF", 4, 1},      /* overlong 3-byte */
        {"\xED\xA0\x80", 3, 0},       /* UTF-16 surrogate */
        {"ok\xF4\x90\x80\x80", 6, 2}, /* above U+10FFFF */
        {"\xFF", 1, 0},
        {"\xC3(", 2, 0}, /* bad continuation */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t off = 999;
        assert_false(lh_utf8_valid(bad[i].s, bad[i].n, &off));
        assert_int_equal(off, bad[i].off);
    }
    assert_false(lh_utf8_valid("\x80", 1, NULL));
}

static void test_name_accepts_valid(void **state)
{
    char max[129];
    memset(max, 'a', 128);
    max[128] = '\0';
    const char *ok[] = {"a", "candidates", "job_orders", "_private", "t2", "a_1_b", max};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        lh_error err;
        lh_error_clear(&err);
        assert_true(lh_name_valid(ok[i], &err));
        assert_int_equal(err.code, LH_OK);
    }
}

static void test_name_rejects_bad_with_message(void **state)
{
    char long_name[130];
    memset(long_name, 'a', 129);
    long_name[129] = '\0';
    struct {
        const char *name;
        const char *needle;
    } bad[] = {
        {"", "empty"},       {"../x", "'.'"},         {"Candidates", "uppercase"},
        {"9lives", "digit"}, {"a-b", "'-'"},          {"a b", "0x20"},
        {"a/b", "'/'"},      {"caf\xC3\xA9", "0xC3"}, {long_name, "129"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        lh_error err;
        lh_error_clear(&err);
        assert_false(lh_name_valid(bad[i].name, &err));
        assert_int_equal(err.code, LH_EINVAL);
        if (!strstr(err.msg, bad[i].needle))
            fail_msg("name #%zu: message '%s' lacks '%s'", i, err.msg, bad[i].needle);
    }
    assert_false(lh_name_valid(NULL, NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_accepts_valid),
        cmocka_unit_test(test_utf8_rejects_invalid_with_offset),
        cmocka_unit_test(test_name_accepts_valid),
        cmocka_unit_test(test_name_rejects_bad_with_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
