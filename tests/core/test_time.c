/* core: clocks, RFC 3339 formatting and parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/core.h"

static void test_time_format_epoch_and_known(void **state)
{
    char out[32];
    lh_time_format(0, out, sizeof out);
    assert_string_equal(out, "1970-01-01T00:00:00.000Z");
    lh_time_format(1795503480123456LL, out, sizeof out);
    assert_string_equal(out, "2026-11-24T06:58:00.123Z");
    lh_time_format(-1000, out, sizeof out); /* 1 ms before the epoch */
    assert_string_equal(out, "1969-12-31T23:59:59.999Z");
}

static void test_time_parse_forms(void **state)
{
    int64_t us;
    assert_int_equal(lh_time_parse("2026-11-24T06:58:00Z", &us), LH_OK);
    assert_true(us == 1795503480000000LL);
    assert_int_equal(lh_time_parse("2026-11-24T06:58:00.123456Z", &us), LH_OK);
    assert_true(us == 1795503480123456LL);
    assert_int_equal(lh_time_parse("2026-11-24T08:58:00+02:00", &us), LH_OK);
    assert_true(us == 1795503480000000LL);
    assert_int_equal(lh_time_parse("2026-11-24 06:58", &us), LH_OK);
    assert_true(us == 1795503480000000LL);
    assert_int_equal(lh_time_parse("2026-11-24", &us), LH_OK);
    assert_true(us == 1795478400000000LL);
    assert_int_equal(lh_time_parse("2024-02-29T00:00:00Z", &us), LH_OK);
}

static void test_time_parse_rejects_malformed(void **state)
{
    const char *bad[] = {"",
                         "2026",
                         "2026-13-01",
                         "2026-02-30",
                         "2023-02-29",
                         "2026-11-24T25:00",
                         "2026-11-24T06:58:00Zjunk",
                         "26-11-24",
                         "2026-11-24T06:58:00.",
                         "2026-11-24T06:58:00+2"};
    int64_t us;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (lh_time_parse(bad[i], &us) != LH_EINVAL) fail_msg("'%s' should be rejected", bad[i]);
    assert_int_equal(lh_time_parse(NULL, &us), LH_EINVAL);
}

static void test_time_round_trip(void **state)
{
    int64_t samples[] = {0,
                         1,
                         999000,
                         1795503480123000LL,
                         951782400000000LL,
                         -86400000000LL,
                         lh_wall_us() / 1000 * 1000};
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        char out[32];
        int64_t back;
        int64_t want = samples[i] - ((samples[i] % 1000 + 1000) % 1000); /* ms precision */
        lh_time_format(samples[i], out, sizeof out);
        assert_int_equal(lh_time_parse(out, &back), LH_OK);
        assert_true(back == want);
    }
}

static void test_clocks_advance(void **state)
{
    uint64_t a = lh_now_ns();
    uint64_t b = lh_now_ns();
    assert_true(b >= a);
    assert_true(lh_wall_us() > 1600000000000000LL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_format_epoch_and_known),
        cmocka_unit_test(test_time_parse_forms),
        cmocka_unit_test(test_time_parse_rejects_malformed),
        cmocka_unit_test(test_time_round_trip),
        cmocka_unit_test(test_clocks_advance),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
