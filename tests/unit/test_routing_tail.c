/* unit.routing.tail: the literal ending routing/tail.c finds in a pattern (the text every
 * address the pattern matches ends with), case by case: what keeps an ending, what
 * shortens it and what leaves a pattern without one. The matcher's decisions against
 * Python's re are it.routing.patterns. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "routing/internal.h"

struct tail_case {
    const char *pattern;
    const char *want; /* NULL: no ending */
    const char *why;
};

static void
check(const struct tail_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char *got = routing_tail_of(cases[i].pattern, strlen(cases[i].pattern));

        if (cases[i].want == NULL ? got != NULL : got == NULL || strcmp(got, cases[i].want) != 0) {
            fail_msg("'%s' (%s): ending '%s', expected '%s'", cases[i].pattern, cases[i].why,
                     got ? got : "(none)", cases[i].want ? cases[i].want : "(none)");
        }
        free(got);
    }
}

#define CHECK(cases) check(cases, sizeof(cases) / sizeof(cases[0]))

static void
test_plain_endings(void **state)
{
    static const struct tail_case cases[] = {
        { ".*@(.*\\.|)ministere\\.gouv\\.fr", "ministere.gouv.fr",
          "what follows the last group is the ending" },
        { ".*@beta\\.gouv\\.fr", "@beta.gouv.fr", "the '@' is literal text too" },
        { "agent@x\\.fr", "agent@x.fr", "a pattern of literal text only is its own ending" },
        { ".*@LAMBDA\\.FR", "@lambda.fr", "lower case: addresses are matched lower-cased" },
        { ".*@a-b_c\\.fr", "@a-b_c.fr", "plain punctuation is literal" },
    };

    (void)state;
    CHECK(cases);
}

static void
test_alternations(void **state)
{
    static const struct tail_case cases[] = {
        { "a|.*@theta\\.fr", NULL, "a top-level alternative may end any way" },
        { ".*@phi\\.fr|.*@chi\\.fr", NULL, "even when both alternatives end with text" },
        { ".*@(rho|tau)\\.gouv\\.fr", ".gouv.fr", "an alternative inside a group stops there" },
        { ".*@iota\\.(fr|com)", NULL, "a pattern that ends with a group has no ending" },
        { ".*@(?:a|b)\\.fr", ".fr", "a non-capturing group is a group" },
    };

    (void)state;
    CHECK(cases);
}

static void
test_anchors(void **state)
{
    static const struct tail_case cases[] = {
        { ".*@kappa\\.fr$", NULL, "a trailing '$' ends the literal run" },
        { "^.*@x\\.fr", "@x.fr", "a leading '^' is before the ending" },
        { ".*@x\\.fr\\b", NULL, "an assertion escape ends the literal run" },
        { ".*@x\\.fr\\z", NULL, "\\z too" },
    };

    (void)state;
    CHECK(cases);
}

static void
test_escapes(void **state)
{
    static const struct tail_case cases[] = {
        { ".*@nu\\-xi\\.fr", "@nu-xi.fr", "an escaped punctuation character is itself" },
        { ".*@mu\\d\\.fr", ".fr", "a class escape (\\d) restarts the ending after it" },
        { ".*@x\\s\\.fr", ".fr", "\\s too" },
        { ".*@x\\x2efr", NULL, "\\x takes an argument: no ending" },
        { ".*@y\\101\\.fr", NULL, "an octal or back reference escape: no ending" },
        { ".*@\\Qa.b\\E", NULL, "\\Q quoting: no ending" },
        { ".*@\\pL\\.fr", NULL, "\\p takes an argument: no ending" },
        { "(a)@\\g1\\.fr", NULL, "\\g: no ending" },
        { ".*@x\\cJ", NULL, "\\c: no ending" },
        { ".*@x\\", NULL, "a lone trailing backslash: no ending" },
        { ".*@x\\\xc3\xa9", NULL, "an escaped non-ASCII byte: no ending" },
    };

    (void)state;
    CHECK(cases);
}

static void
test_classes(void **state)
{
    static const struct tail_case cases[] = {
        { "[a-z]+\\.[a-z]+@gamma\\.fr", "@gamma.fr", "a class before the ending" },
        { ".*@x\\.f[r]", NULL, "a class at the end: no ending" },
        { "[\\w.]+@x\\.fr", "@x.fr", "escapes inside a class are skipped" },
        { "[^@]+@upsilon\\.fr", "@upsilon.fr", "a negated class" },
        { "[]a]x@z\\.fr", NULL, "a leading ']' is a member: no ending" },
        { "[^]a]x@z\\.fr", NULL, "after '^' too" },
        { ".*@[[:alpha:]]\\.fr", NULL, "a nested '[' (POSIX class): no ending" },
        { ".*@[\\pL]\\.fr", NULL, "an escape with an argument inside a class: no ending" },
        { ".*@[abc\\.fr", NULL, "an unclosed class: no ending" },
    };

    (void)state;
    CHECK(cases);
}

static void
test_quantifiers_and_groups(void **state)
{
    static const struct tail_case cases[] = {
        { "x+@zeta\\.fr", "@zeta.fr", "a quantifier before the ending" },
        { ".*@pi\\.fr{1,2}", NULL, "a counted repeat at the end: no ending" },
        { ".*@a\\.fr?", NULL, "what precedes '?' is not fixed: no ending" },
        { ".*@a\\.fr+", NULL, "nor what precedes '+'" },
        { "(?:.*)@omicron\\.fr", "@omicron.fr", "a non-capturing group before the ending" },
        { "(?i).*@x\\.fr", NULL, "inline options: no ending" },
        { ".*@(?=x)x\\.fr", NULL, "a lookahead: no ending" },
        { ".*@(*ACCEPT)x\\.fr", NULL, "a verb: no ending" },
        { "(.*@x\\.fr", NULL, "an unbalanced '(': no ending" },
        { ".*@x)\\.fr", NULL, "an unbalanced ')': no ending" },
    };

    (void)state;
    CHECK(cases);
}

static void
test_no_literal_ending(void **state)
{
    static const struct tail_case cases[] = {
        { ".*", NULL, "the catch-all" },
        { ".+@.+", NULL, "any address" },
        { ".*@.*\\..*", NULL, "literal text, but not at the end" },
        { "", NULL, "the empty pattern" },
    };

    (void)state;
    CHECK(cases);
}

static void
test_non_ascii(void **state)
{
    static const struct tail_case cases[] = {
        { ".*@caf\xc3\xa9\\.fr", ".fr", "only the ASCII text after the last non-ASCII byte" },
        { ".*@x\\.caf\xc3\xa9", NULL, "a pattern that ends non-ASCII has no ending" },
        { ".*@\xc3\xa9"
          "cole\\.FR",
          "cole.fr", "the ending starts right after that byte" },
    };

    (void)state;
    CHECK(cases);
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
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_endings),     cmocka_unit_test(test_alternations),
        cmocka_unit_test(test_anchors),           cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_classes),           cmocka_unit_test(test_quantifiers_and_groups),
        cmocka_unit_test(test_no_literal_ending), cmocka_unit_test(test_non_ascii),
        cmocka_unit_test(test_length_bound),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
