/* Which search filters may have their allow-sets cached per index generation: only those whose
 * value can depend on nothing but the rows (no calls, subqueries, clock or session). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ai/ai_int.h"

static void test_filter_cache_takes_predicates_over_columns_only(void **state)
{
    (void)state;
    const char *yes[] = {
        "city = 'Chicago' AND years_experience >= 5",
        "city IN ('Boston', 'Chicago') OR NOT (years >= 3)",
        "(a < 1 OR b > 2) AND c BETWEEN 1 AND 5",
        "name = 'now() and random()'",     /* inside a string */
        "\"select\" = 1 AND \"user\" = 2", /* quoted names */
        "created_at::DATE > '2024-01-01'",
        "notes IS NULL and(x = 1)",
        "name = 'it''s (not) now()'",
    };
    const char *no[] = {
        "created_at > now() - INTERVAL 1 DAY",
        "random() < 0.5",
        "id IN (SELECT id FROM other)",
        "EXISTS (SELECT 1)",
        "d < CURRENT_DATE",
        "owner = current_user",
        "lower (city) = 'chicago'",
        "CAST(years AS INT) > 3",
        "name = E'it\\'s' OR now() > created_at", /* the escaped quote does not end it */
    };
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        if (!ai_filter_cacheable(yes[i])) fail_msg("should be cacheable: %s", yes[i]);
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        if (ai_filter_cacheable(no[i])) fail_msg("should not be cacheable: %s", no[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filter_cache_takes_predicates_over_columns_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
