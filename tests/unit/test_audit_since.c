/* unit.admin.since: the since argument of GET .../audit and `annuaire audit`: ISO 8601
 * times (a date, a time with Z, an offset or no zone, a fraction) as epoch seconds,
 * durations before now, and what is neither. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "admin/admin.h"
#include "core/util.h"

#define NOW 1764590400LL /* 2025-12-01T12:00:00Z */

static const struct {
    const char *text;
    long long epoch;
} good[] = {
    { "2025-12-01", 1764547200LL },
    { "2025-12-01T12:00:00Z", NOW },
    { "2025-12-01t12:00:00z", NOW },
    { "2025-12-01 12:00:00Z", NOW },
    { "2025-12-01T12:00:00", NOW },
    { "2025-12-01T12:00Z", NOW },
    { "2025-12-01T12:00:00.999Z", NOW },
    { "2025-12-01T14:00:00+02:00", NOW },
    { "2025-12-01T14:30:00+0230", NOW },
    { "2025-12-01T07:00:00-05:00", NOW },
    { "2024-02-29T00:00:00Z", 1709164800LL },
    { "1970-01-01T00:00:00Z", 0 },
    { "90s", NOW - 90 },
    { "30m", NOW - 1800 },
    { "24h", NOW - 86400 },
    { "7d", NOW - 7 * 86400 },
    { "2w", NOW - 14 * 86400 },
    { "0h", NOW },
};

static const char *const bad[] = {
    "",
    "24",
    "h",
    "24x",
    "24hh",
    "-1h",
    "1234567h",
    "yesterday",
    "2025-12-1",
    "2025-13-01",
    "2025-02-30",
    "2025-02-29",
    "2025-12-01T24:00:00Z",
    "2025-12-01T12:60:00Z",
    "2025-12-01T12:00:60Z",
    "2025-12-01T12Z",
    "2025-12-01T12:00:00.Z",
    "2025-12-01T12:00:00+2",
    "2025-12-01T12:00:00+24:00",
    "2025-12-01T12:00:00Z ",
    "1969-12-31",
    "2025-12-01T12:00:00.1234567890Z",
    "2025-12-01T12:00:00Z2025-12-01T12:00:00Z2025",
};

static void
test_good(void **state)
{
    (void)state;
    for (size_t i = 0; i < ANN_ARRAY_LEN(good); i++) {
        long long out = -1;

        if (adm_audit_since(good[i].text, NOW, &out) != 0 || out != good[i].epoch) {
            fail_msg("%s: got %lld, want %lld", good[i].text, out, good[i].epoch);
        }
    }
}

static void
test_bad(void **state)
{
    (void)state;
    for (size_t i = 0; i < ANN_ARRAY_LEN(bad); i++) {
        long long out = 0;

        if (adm_audit_since(bad[i], NOW, &out) == 0) {
            fail_msg("'%s' taken as %lld", bad[i], out);
        }
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_bad),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
