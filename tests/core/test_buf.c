/* core: lh_buf, allocation helpers and JSON string escaping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "core/core.h"

static void test_buf_append_grows_and_stays_terminated(void **state)
{
    lh_buf b = {0};
    for (int i = 0; i < 1000; i++)
        lh_buf_puts(&b, "abc");
    assert_int_equal(b.len, 3000);
    assert_int_equal(strlen(b.data), 3000);
    lh_buf_putc(&b, 'z');
    assert_int_equal(b.data[3000], 'z');
    assert_int_equal(b.data[3001], '\0');
    lh_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    lh_buf_free(&b);
    assert_null(b.data);
    lh_buf_free(&b);
}

static void test_buf_printf_long_output(void **state)
{
    lh_buf b = {0};
    lh_buf_printf(&b, "%d-%s", 42, "x");
    char big[1000];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    lh_buf_printf(&b, "[%s]", big);
    assert_int_equal(b.len, 4 + 1001);
    assert_memory_equal(b.data, "42-x[q", 6);
    assert_int_equal(b.data[b.len - 1], ']');
    char *s = lh_buf_steal(&b);
    assert_null(b.data);
    assert_int_equal(strlen(s), 1005);
    free(s);
}

static void test_buf_steal_empty_gives_empty_string(void **state)
{
    lh_buf b = {0};
    char *s = lh_buf_steal(&b);
    assert_string_equal(s, "");
    free(s);
}

static void test_sprintf_and_strndup(void **state)
{
    char *s = lh_sprintf("%s/%d", "a", 7);
    assert_string_equal(s, "a/7");
    free(s);
    s = lh_strndup("abcdef", 3);
    assert_string_equal(s, "abc");
    free(s);
    s = lh_strndup("ab", 10);
    assert_string_equal(s, "ab");
    free(s);
}

static char *json_of(const char *s, size_t n)
{
    lh_buf b = {0};
    lh_buf_json_str(&b, s, n);
    return lh_buf_steal(&b);
}

static void test_json_escapes_specials(void **state)
{
    char *j = json_of("a\"b\\c\nd\te\x01", 10);
    assert_string_equal(j, "\"a\\\"b\\\\c\\nd\\te\\u0001\"");
    free(j);
}

static void test_json_keeps_valid_utf8(void **state)
{
    const char *s = "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80";
    char *j = json_of(s, strlen(s));
    char want[64];
    snprintf(want, sizeof want, "\"%s\"", s);
    assert_string_equal(j, want);
    free(j);
}

static void test_json_replaces_invalid_utf8(void **state)
{
    /* lone continuation, truncated sequence, overlong '/', surrogate, > U+10FFFF */
    const char s[] = "a\x80"
                     "b\xE2\x82"
                     "c\xC0\xAF"
                     "d\xED\xA0\x80"
                     "e\xF4\x90\x80\x80";
    char *j = json_of(s, sizeof s - 1);
    size_t bad;
    assert_true(lh_utf8_valid(j, strlen(j), &bad));
    /* The result must be valid JSON that jansson parses back. */
    json_error_t jerr;
    json_t *v = json_loads(j, JSON_DECODE_ANY, &jerr);
    assert_non_null(v);
    assert_true(json_is_string(v));
    const char *back = json_string_value(v);
    assert_int_equal(back[0], 'a');
    assert_memory_equal(back + 1, "\xEF\xBF\xBD", 3);
    assert_non_null(strchr(back, 'e'));
    json_decref(v);
    free(j);
}

static void test_json_embedded_nul_and_line_separators(void **state)
{
    char *j = json_of("a\0b", 3);
    assert_string_equal(j, "\"a\\u0000b\"");
    free(j);
    j = json_of("\xE2\x80\xA8", 3);
    assert_string_equal(j, "\"\\u2028\"");
    free(j);
}

static void test_json_null_pointer_is_null(void **state)
{
    char *j = json_of(NULL, 0);
    assert_string_equal(j, "null");
    free(j);
}

static void test_json_roundtrips_through_jansson(void **state)
{
    char s[256];
    for (int i = 0; i < 255; i++)
        s[i] = (char)(i < 127 ? i + 1 : 'x');
    s[255] = '\0';
    char *j = json_of(s, 255);
    json_t *v = json_loads(j, JSON_DECODE_ANY, NULL);
    assert_non_null(v);
    assert_string_equal(json_string_value(v), s);
    json_decref(v);
    free(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_append_grows_and_stays_terminated),
        cmocka_unit_test(test_buf_printf_long_output),
        cmocka_unit_test(test_buf_steal_empty_gives_empty_string),
        cmocka_unit_test(test_sprintf_and_strndup),
        cmocka_unit_test(test_json_escapes_specials),
        cmocka_unit_test(test_json_keeps_valid_utf8),
        cmocka_unit_test(test_json_replaces_invalid_utf8),
        cmocka_unit_test(test_json_embedded_nul_and_line_separators),
        cmocka_unit_test(test_json_null_pointer_is_null),
        cmocka_unit_test(test_json_roundtrips_through_jansson),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
