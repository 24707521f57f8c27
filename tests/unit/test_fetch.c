/* unit.core.fetch: the bound on calls to homeservers, in all and per destination. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/fetch.h"

static void
test_per_destination(void **state)
{
    (void)state;
    fetch_set_max_calls(4);
    assert_true(fetch_slot_take("evil.test"));
    assert_true(fetch_slot_take("EVIL.test")); /* server names have no case */
    assert_false(fetch_slot_take("evil.test"));
    assert_true(fetch_slot_take("good.test"));
    assert_true(fetch_slot_take("good.test"));
    assert_false(fetch_slot_take("other.test")); /* all four taken */
    fetch_slot_release("evil.test");
    assert_true(fetch_slot_take("other.test"));
    assert_false(fetch_slot_take("evil.test"));
    fetch_slot_release("other.test");
    assert_true(fetch_slot_take("evil.test"));
    fetch_slot_release("evil.test");
    fetch_slot_release("evil.test");
    fetch_slot_release("good.test");
    fetch_slot_release("good.test");
}

static void
test_small_bounds(void **state)
{
    char name[FETCH_DEST_MAX + 1];

    (void)state;
    /* Bound 2: one per destination, so one hanging homeserver leaves a slot. */
    fetch_set_max_calls(2);
    assert_true(fetch_slot_take("evil.test"));
    assert_false(fetch_slot_take("evil.test"));
    assert_true(fetch_slot_take("good.test"));
    fetch_slot_release("evil.test");
    fetch_slot_release("good.test");
    /* Bound 1: the one slot. */
    fetch_set_max_calls(1);
    assert_true(fetch_slot_take("evil.test"));
    assert_false(fetch_slot_take("good.test"));
    fetch_slot_release("evil.test");
    /* No bound: still FETCH_MAX_PER_DEST per destination. */
    fetch_set_max_calls(0);
    for (int i = 0; i < FETCH_MAX_PER_DEST; i++) {
        assert_true(fetch_slot_take("evil.test"));
    }
    assert_false(fetch_slot_take("evil.test"));
    for (int i = 0; i < FETCH_MAX_PER_DEST; i++) {
        fetch_slot_release("evil.test");
    }
    memset(name, 'a', FETCH_DEST_MAX);
    name[FETCH_DEST_MAX] = '\0';
    assert_false(fetch_slot_take(name));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_per_destination),
        cmocka_unit_test(test_small_bounds),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
