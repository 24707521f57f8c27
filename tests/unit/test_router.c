/* unit.core.router: method + path matching, placeholders, 404 versus 405. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/router.h"
#include "core/util.h"

static int
h(struct http_req *r, const struct json_t *body)
{
    return 0;
}

static const struct route table_a[] = {
    { "GET", "/_matrix/identity/v2", h, 0 },
    { "GET", "/_matrix/identity/v2/pubkey/{keyId}", h, 0 },
    { "GET", "/_matrix/identity/v2/pubkey/isvalid", h, 0 },
    { "POST", "/_matrix/identity/v2/lookup", h, ROUTE_JSON_BODY },
};
static const struct route table_b[] = {
    { "GET", "/_matrix/identity/v2/validate/email/submitToken", h, 0 },
    { "POST", "/_matrix/identity/v2/validate/email/submitToken", h, ROUTE_JSON_BODY },
    { "GET", "/a/{x}/b/{y}", h, 0 },
};

struct match_case {
    const char *method, *path;
    enum router_result want;
    size_t index;
    const char *param0, *allow;
};

static void
test_matching(void **state)
{
    const struct route *tables[] = { table_a, table_b };
    const size_t sizes[] = { ANN_ARRAY_LEN(table_a), ANN_ARRAY_LEN(table_b) };
    struct router *rt = router_new(tables, sizes, 2);
    static const struct match_case cases[] = {
        { "GET", "/_matrix/identity/v2", ROUTER_FOUND, 0, NULL, NULL },
        { "GET", "/_matrix/identity/v2/", ROUTER_NOT_FOUND, 0, NULL, NULL },
        { "GET", "/_matrix/identity", ROUTER_NOT_FOUND, 0, NULL, NULL },
        { "GET", "/_matrix/identity/v2x", ROUTER_NOT_FOUND, 0, NULL, NULL },
        { "GET", "/_matrix/identity/v2/pubkey/ed25519:0", ROUTER_FOUND, 1, "ed25519:0", NULL },
        /* A literal segment beats a placeholder, whatever the order of the table. */
        { "GET", "/_matrix/identity/v2/pubkey/isvalid", ROUTER_FOUND, 2, NULL, NULL },
        { "GET", "/_matrix/identity/v2/pubkey/", ROUTER_NOT_FOUND, 0, NULL, NULL },
        { "POST", "/_matrix/identity/v2/lookup", ROUTER_FOUND, 3, NULL, NULL },
        { "GET", "/_matrix/identity/v2/lookup", ROUTER_METHOD_NOT_ALLOWED, 0, NULL,
          "POST, OPTIONS" },
        { "DELETE", "/_matrix/identity/v2/validate/email/submitToken", ROUTER_METHOD_NOT_ALLOWED, 0,
          NULL, "GET, POST, OPTIONS" },
        { "POST", "/_matrix/identity/v2/validate/email/submitToken", ROUTER_FOUND, 5, NULL, NULL },
        { "GET", "/a/1/b/2", ROUTER_FOUND, 6, "1", NULL },
        { "GET", "/a//b/2", ROUTER_NOT_FOUND, 0, NULL, NULL },
        { "GET", "relative", ROUTER_NOT_FOUND, 0, NULL, NULL },
        { "GET", "", ROUTER_NOT_FOUND, 0, NULL, NULL },
        { "GET", "/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17/18", ROUTER_NOT_FOUND, 0, NULL, NULL },
    };

    assert_int_equal(router_count(rt), 7);
    for (size_t i = 0; i < ANN_ARRAY_LEN(cases); i++) {
        struct router_match m;
        enum router_result got = router_match(rt, cases[i].method, cases[i].path, &m);

        if (got != cases[i].want) {
            fail_msg("%s %s: got %d want %d", cases[i].method, cases[i].path, got, cases[i].want);
        }
        if (got == ROUTER_FOUND) {
            assert_int_equal(m.index, cases[i].index);
            if (cases[i].param0 != NULL) {
                assert_true(m.n_params >= 1);
                assert_string_equal(m.params[0], cases[i].param0);
            } else {
                assert_int_equal(m.n_params, 0);
            }
        }
        if (cases[i].allow != NULL) {
            assert_string_equal(m.allow, cases[i].allow);
        }
    }
    router_free(rt);
}

static void
test_two_params(void **state)
{
    const struct route *tables[] = { table_b };
    const size_t sizes[] = { ANN_ARRAY_LEN(table_b) };
    struct router *rt = router_new(tables, sizes, 1);
    struct router_match m;

    assert_int_equal(router_match(rt, "GET", "/a/first/b/second", &m), ROUTER_FOUND);
    assert_int_equal(m.n_params, 2);
    assert_string_equal(m.params[0], "first");
    assert_string_equal(m.params[1], "second");
    router_free(rt);
}

/* Keeps the routes without ROUTE_INTERNAL (as the public listener does). */
static bool
not_internal(const struct route *route, const void *cls)
{
    (void)cls;
    return !(route->flags & ROUTE_INTERNAL);
}

static void
test_routes_left_out(void **state)
{
    static const struct route table[] = {
        { "GET", "/info", h, 0 },
        { "GET", "/internal-info", h, ROUTE_INTERNAL },
        { "GET", "/both", h, 0 },
        { "POST", "/both", h, ROUTE_INTERNAL | ROUTE_JSON_BODY },
    };
    const struct route *tables[] = { table };
    const size_t sizes[] = { ANN_ARRAY_LEN(table) };
    struct router *rt = router_new(tables, sizes, 1);
    struct router_match m;

    /* A path with only left-out routes is not found, whatever the method. */
    assert_int_equal(router_match_where(rt, "GET", "/internal-info", not_internal, NULL, &m),
                     ROUTER_NOT_FOUND);
    assert_int_equal(router_match_where(rt, "POST", "/internal-info", not_internal, NULL, &m),
                     ROUTER_NOT_FOUND);
    assert_int_equal(router_match(rt, "POST", "/internal-info", &m), ROUTER_METHOD_NOT_ALLOWED);
    /* Allow names only the methods kept. */
    assert_int_equal(router_match_where(rt, "POST", "/both", not_internal, NULL, &m),
                     ROUTER_METHOD_NOT_ALLOWED);
    assert_string_equal(m.allow, "GET, OPTIONS");
    assert_int_equal(router_match_where(rt, "GET", "/both", not_internal, NULL, &m), ROUTER_FOUND);
    assert_int_equal(m.index, 2);
    router_free(rt);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matching),
        cmocka_unit_test(test_two_params),
        cmocka_unit_test(test_routes_left_out),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
