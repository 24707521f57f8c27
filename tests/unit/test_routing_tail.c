/* unit.routing.tail: the literal ending routing/tail.c finds in a pattern (the text every
 * address the pattern matches ends with), case by case from data/routing/tails.txt, one
 * test per section (alternations, anchors, escapes, classes...): what keeps an ending,
 * what shortens it and what leaves a pattern without one. The matcher's decisions
 * against Python's re are it.routing.patterns. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/util.h"
#include "routing/internal.h"

static const char *table = ANN_TEST_DATA "/routing/tails.txt";

/* Checks every case of one section of the table; a section without cases fails. */
static void
test_section(void **state)
{
    const char *section = *state;
    FILE *f = fopen(table, "r");
    char *line = NULL;
    size_t cap = 0, n = 0;
    bool in = false;

    assert_non_null(f);
    while (getline(&line, &cap, f) > 0) {
        char *pattern = strtok(line, "\t\n"), *want = strtok(NULL, "\t\n");
        char *why = strtok(NULL, "\n"), *got;

        if (pattern == NULL || (pattern[0] == '#' && pattern[1] != '#')) {
            continue;
        }
        if (strncmp(pattern, "## ", 3) == 0) {
            in = strcmp(pattern + 3, section) == 0;
            continue;
        }
        if (!in) {
            continue;
        }
        assert_non_null(why);
        got = routing_tail_of(pattern, strlen(pattern));
        if (strcmp(want, "-") == 0 ? got != NULL : got == NULL || strcmp(got, want) != 0) {
            fail_msg("'%s' (%s): ending '%s', expected '%s'", pattern, why, got ? got : "-", want);
        }
        free(got);
        n++;
    }
    free(line);
    fclose(f);
    if (n == 0) {
        fail_msg("%s: no section '## %s'", table, section);
    }
}

static void
test_length_bound(void **state)
{
    size_t len = ROUTING_MAX_PATTERN_LEN + 1;
    char *p = malloc(len + 1);
    char *got;

    (void)state;
    memset(p, 'a', len);
    p[len] = '\0';
    assert_null(routing_tail_of(p, len)); /* longer than a mapping file may hold */
    got = routing_tail_of(p, len - 1);    /* the longest a file may hold */
    assert_non_null(got);
    assert_int_equal(strlen(got), len - 1);
    free(got);
    free(p);
}

int
main(void)
{
    /* One test per section of data/routing/tails.txt. */
    static const char *const sections[] = {
        "plain",   "alternations",           "anchors", "escapes",
        "classes", "quantifiers_and_groups", "none",    "non_ascii",
    };
    struct CMUnitTest tests[ANN_ARRAY_LEN(sections) + 1];

    for (size_t i = 0; i < ANN_ARRAY_LEN(sections); i++) {
        tests[i] = (struct CMUnitTest)cmocka_unit_test_prestate(test_section, (void *)sections[i]);
        tests[i].name = sections[i];
    }
    tests[ANN_ARRAY_LEN(sections)] = (struct CMUnitTest)cmocka_unit_test(test_length_bound);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
