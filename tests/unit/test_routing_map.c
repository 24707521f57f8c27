/* unit.routing.map: a mapping file as routing/ loads it (scalars typed as PyYAML types
 * them, what an entry must hold, the platform flags, errors that name the line) and
 * addresses matched against it (exact entries first, then patterns in file order across
 * the literal-ending index). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/address.h"
#include "core/cfg.h"
#include "core/util.h"
#include "routing/routing.h"

static char path[64];

/* Loads text as a mapping file; err gets the loader's message when it does not load. */
static struct routing_map *
load_text(const char *text, const struct cfg_routing *conf, char *err, size_t err_size)
{
    int fd;
    size_t len = strlen(text);

    snprintf(path, sizeof(path), "/tmp/annuaire-routing-XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
    err[0] = '\0';
    struct routing_map *m = routing_load(path, conf, err, err_size);

    unlink(path);
    return m;
}

static struct routing_map *
load_ok(const char *text)
{
    char err[512];
    struct routing_map *m = load_text(text, NULL, err, sizeof(err));

    if (m == NULL) {
        fail_msg("does not load: %s", err);
    }
    return m;
}

/* Asserts that text does not load, with "file:line: ..." naming line and holding why. */
static void
assert_load_fails(const char *text, int line, const char *why)
{
    char err[512], want[128];
    struct routing_map *m = load_text(text, NULL, err, sizeof(err));

    assert_null(m);
    snprintf(want, sizeof(want), "%s:%d: ", path, line);
    if (strncmp(err, want, strlen(want)) != 0 || strstr(err, why) == NULL) {
        fail_msg("error '%s', expected '%s...%s'", err, want, why);
    }
}

/* The homeserver an address goes to, or "" when nothing takes it. */
static const char *
hs_of(const struct routing_map *m, const char *address)
{
    static char hs[256];
    struct routing_result out;
    bool is_email;
    char *key = routing_key(address, &is_email);

    hs[0] = '\0';
    if (routing_match(m, key, &out)) {
        snprintf(hs, sizeof(hs), "%s", out.hs);
    } else {
        assert_null(out.hs);
    }
    free(key);
    return hs;
}

#define PATTERNS "medium:\n  email:\n    patterns:\n"

/* --- loading ---------------------------------------------------------------------- */

static void
test_scalars_typed_as_pyyaml(void **state)
{
    struct routing_map *m = load_ok(
        "medium:\n  email:\n    entries:\n      a@x.test: {hs: h.test, b1: yes, b2: Off, b3: TRUE,"
        " b4: No, n1: ~, n2: null, n3: , i1: 42, i2: -7, i3: +5, r1: 1.5, r2: -0.25,"
        " s1: \"yes\", s2: '42', s3: yES, s4: y, s5: 1.2.3, s6: ma\xc3\xaetre}\n");
    struct routing_result out;
    const json_t *e;

    (void)state;
    assert_true(routing_match(m, "a@x.test", &out));
    e = out.entry;
    assert_true(json_is_true(json_object_get(e, "b1")));
    assert_true(json_is_false(json_object_get(e, "b2")));
    assert_true(json_is_true(json_object_get(e, "b3")));
    assert_true(json_is_false(json_object_get(e, "b4")));
    assert_true(json_is_null(json_object_get(e, "n1")));
    assert_true(json_is_null(json_object_get(e, "n2")));
    assert_true(json_is_null(json_object_get(e, "n3")));
    assert_int_equal(json_integer_value(json_object_get(e, "i1")), 42);
    assert_int_equal(json_integer_value(json_object_get(e, "i2")), -7);
    assert_int_equal(json_integer_value(json_object_get(e, "i3")), 5);
    assert_true(json_is_real(json_object_get(e, "r1")));
    assert_true(json_real_value(json_object_get(e, "r1")) == 1.5);
    assert_true(json_real_value(json_object_get(e, "r2")) == -0.25);
    /* Quoted scalars are strings whatever they look like; so are words PyYAML keeps. */
    assert_string_equal(json_string_value(json_object_get(e, "s1")), "yes");
    assert_string_equal(json_string_value(json_object_get(e, "s2")), "42");
    assert_string_equal(json_string_value(json_object_get(e, "s3")), "yES");
    assert_string_equal(json_string_value(json_object_get(e, "s4")), "y");
    assert_string_equal(json_string_value(json_object_get(e, "s5")), "1.2.3");
    assert_string_equal(json_string_value(json_object_get(e, "s6")), "ma\xc3\xaetre");
    routing_release(m);
}

static void
test_anchors_shared_by_entries(void **state)
{
    struct routing_map *m =
        load_ok("platforms:\n  - &p {hs: agent.p.test, shadow_hs: internet.p.test, k: v}\n" PATTERNS
                "      - '.*@a\\.test': *p\n      - '.*@b\\.test': *p\n");
    struct routing_result out;

    (void)state;
    assert_true(routing_match(m, "x@b.test", &out));
    assert_string_equal(out.hs, "agent.p.test");
    assert_string_equal(out.shadow_hs, "internet.p.test");
    assert_string_equal(json_string_value(json_object_get(out.entry, "k")), "v");
    assert_string_equal(out.rule, ".*@b\\.test");
    assert_int_equal(out.line, 7);
    routing_release(m);
}

static void
test_what_an_entry_must_hold(void **state)
{
    (void)state;
    assert_load_fails(PATTERNS "      - '.*': {shadow_hs: s.test}\n", 4,
                      "'hs' must be a server name");
    assert_load_fails(PATTERNS "      - '.*': {hs: ''}\n", 4, "'hs' must be a server name");
    assert_load_fails(PATTERNS "      - '.*': {hs: h.test, shadow_hs: [a]}\n", 4,
                      "'shadow_hs' must be a server name");
    assert_load_fails(PATTERNS "      - '.*': {hs: h.test, requires_invite: maybe}\n", 4,
                      "'requires_invite' must be true or false");
    assert_load_fails(PATTERNS "      - '.*': h.test\n", 4, "an entry must be a mapping");
}

static void
test_what_a_file_must_hold(void **state)
{
    (void)state;
    assert_load_fails("- a\n", 1, "expected a mapping");
    assert_load_fails("medium: {}\n", 1, "no 'medium: {email:");
    assert_load_fails(PATTERNS "      - '(a': {hs: h.test}\n", 4, "pattern '(a'");
    assert_load_fails(PATTERNS "      - {'a': {hs: h.test}, 'b': {hs: h.test}}\n", 4,
                      "a pattern must be a one-key mapping");
    assert_load_fails("medium:\n  email:\n    patterns: {a: b}\n", 3, "'patterns' must be a list");
    assert_load_fails("medium:\n  email:\n    entries: [a]\n", 3,
                      "'entries' must map addresses to entries");
    assert_load_fails("medium:\n  email:\n    entries:\n      nobody: {hs: h.test}\n", 4,
                      "'nobody' is not an e-mail address");
    /* Exact entries are keyed by their canonical form: two spellings are one address. */
    assert_load_fails("medium:\n  email:\n    entries:\n      a@x.test: {hs: h.test}\n"
                      "      A@X.TEST: {hs: h.test}\n",
                      5, "'a@x.test' is listed twice");
    assert_load_fails("medium: [\n", 2, "");
}

static void
test_empty_lists(void **state)
{
    struct routing_map *m =
        load_ok("medium:\n  email:\n    entries: []\n    patterns:\n"); /* as the reference */
    size_t n_exact = 1;

    (void)state;
    assert_int_equal(routing_size(m, &n_exact), 0);
    assert_int_equal(n_exact, 0);
    assert_string_equal(hs_of(m, "a@x.test"), "");
    routing_release(m);
}

static void
test_platform_flags(void **state)
{
    static const char text[] =
        "medium:\n  email:\n    entries:\n      a@x.test: {hs: agents.test}\n    patterns:\n"
        "      - '.*@x\\.test': {hs: other.test, shadow_hs: AGENTS.test}\n"
        "      - '.*@y\\.test': {hs: ext.test}\n"
        "      - '.*': {hs: invite.test, requires_invite: true}\n";
    struct cfg_routing conf = { 0 };
    struct routing_result out;
    struct routing_map *m;
    char err[512];

    (void)state;
    /* No lists: a server that requires an invitation is the externals'. */
    m = load_text(text, NULL, err, sizeof(err));
    assert_non_null(m);
    assert_true(routing_match(m, "b@z.test", &out));
    assert_true(out.external && out.requires_invite && !out.annuaire_required);
    assert_true(routing_match(m, "b@y.test", &out));
    assert_false(out.external);
    routing_release(m);

    /* With lists, they decide (any case), for the hs or its shadow_hs. */
    conf.external_servers = json_pack("[s]", "EXT.test");
    conf.annuaire_servers = json_pack("[s]", "agents.test");
    m = load_text(text, &conf, err, sizeof(err));
    assert_non_null(m);
    assert_true(routing_match(m, "a@x.test", &out));
    assert_true(out.exact && out.annuaire_required && !out.external);
    assert_true(routing_match(m, "b@x.test", &out));
    assert_true(!out.exact && out.annuaire_required);
    assert_true(routing_match(m, "b@y.test", &out));
    assert_true(out.external && !out.annuaire_required);
    assert_true(routing_match(m, "b@z.test", &out));
    assert_true(!out.external && out.requires_invite);
    routing_release(m);
    json_decref(conf.external_servers);
    json_decref(conf.annuaire_servers);
}

static void
test_has_server(void **state)
{
    struct routing_map *m =
        load_ok(PATTERNS "      - '.*': {hs: Agent.test, shadow_hs: internet.test}\n");

    (void)state;
    assert_true(routing_has_server(m, "agent.TEST"));
    assert_true(routing_has_server(m, "internet.test"));
    assert_false(routing_has_server(m, "other.test"));
    assert_false(routing_has_server(m, ""));
    assert_false(routing_has_server(NULL, "agent.test"));
    routing_release(m);
}

/* A sender's server is the externals' by the rule that makes an address external. */
static void
test_server_external(void **state)
{
    const char *text = "medium:\n  email:\n    entries:\n"
                       "      a@y.test: {hs: agents.test}\n    patterns:\n"
                       "      - '.*@y\\.test': {hs: Ext.test, shadow_hs: ext-net.test,"
                       " requires_invite: true}\n"
                       "      - '.*': {hs: agents.test}\n";
    struct cfg_routing conf = { 0 };
    struct routing_result out;
    struct routing_map *m;
    char err[512];

    (void)state;
    /* No list: the hs and shadow_hs of the entries that require an invitation. */
    m = load_text(text, NULL, err, sizeof(err));
    assert_non_null(m);
    assert_true(routing_match(m, "b@y.test", &out) && out.external);
    assert_true(routing_server_external(m, "ext.TEST"));
    assert_true(routing_server_external(m, "EXT-net.test"));
    assert_false(routing_server_external(m, "agents.test"));
    assert_false(routing_server_external(m, "other.test"));
    assert_false(routing_server_external(m, ""));
    assert_false(routing_server_external(m, NULL));
    assert_false(routing_server_external(NULL, "ext.test"));
    routing_release(m);

    /* An empty list is no list. */
    conf.external_servers = json_array();
    m = load_text(text, &conf, err, sizeof(err));
    assert_non_null(m);
    assert_true(routing_server_external(m, "ext.test"));
    routing_release(m);
    json_decref(conf.external_servers);

    /* A list decides alone, any case, servers of the mapping or not. */
    conf.external_servers = json_pack("[ss]", "AGENTS.test", "far.test");
    m = load_text(text, &conf, err, sizeof(err));
    assert_non_null(m);
    assert_true(routing_match(m, "b@x.test", &out) && out.external);
    assert_true(routing_server_external(m, "agents.test"));
    assert_true(routing_server_external(m, "Far.Test"));
    assert_false(routing_server_external(m, "ext.test"));
    assert_false(routing_server_external(m, "ext-net.test"));
    routing_release(m);
    json_decref(conf.external_servers);
}

/* --- matching --------------------------------------------------------------------- */

static void
test_exact_entries_first(void **state)
{
    struct routing_map *m = load_ok("medium:\n  email:\n    entries:\n"
                                    "      Jean@X.test: {hs: exact.test}\n    patterns:\n"
                                    "      - '.*@x\\.test': {hs: pattern.test}\n");
    struct routing_result out;
    size_t n_exact;

    (void)state;
    assert_int_equal(routing_size(m, &n_exact), 1);
    assert_int_equal(n_exact, 1);
    assert_true(routing_match(m, "jean@x.test", &out));
    assert_true(out.exact);
    assert_string_equal(out.hs, "exact.test");
    assert_string_equal(out.rule, "jean@x.test"); /* the canonical form */
    assert_int_equal(out.line, 4);
    assert_string_equal(hs_of(m, "JEAN@x.test"), "exact.test");
    assert_string_equal(hs_of(m, "paul@x.test"), "pattern.test");
    routing_release(m);
}

static void
test_file_order_across_the_index(void **state)
{
    /* A pattern without an ending (2) between two with one: the first that matches in
     * file order decides, whichever the index found. */
    struct routing_map *m = load_ok(PATTERNS "      - '.*@x\\.test': {hs: h1.test}\n"
                                             "      - 'a.*': {hs: h2.test}\n"
                                             "      - '.*@y\\.test': {hs: h3.test}\n"
                                             "      - '.*@sub\\.y\\.test': {hs: h4.test}\n"
                                             "      - 'b.*@y\\.test': {hs: h5.test}\n");

    (void)state;
    assert_string_equal(hs_of(m, "a@x.test"), "h1.test");
    assert_string_equal(hs_of(m, "a@y.test"), "h2.test");
    assert_string_equal(hs_of(m, "b@y.test"), "h3.test");
    assert_string_equal(hs_of(m, "b@sub.y.test"), "h4.test"); /* another ending length */
    assert_string_equal(hs_of(m, "c@z.test"), "");
    assert_string_equal(hs_of(m, "c@xy.test"), "");
    routing_release(m);
}

static void
test_many_patterns_one_ending(void **state)
{
    /* More candidates than fit on the stack, and a catch-all after them. */
    struct util_buf b = { 0 };
    struct routing_map *m;
    char *text;

    (void)state;
    util_buf_puts(&b, PATTERNS);
    for (int i = 0; i < 100; i++) {
        util_buf_printf(&b, "      - 'p%d@x\\.test': {hs: h%d.test}\n", i, i);
    }
    util_buf_printf(&b, "      - '.*': {hs: all.test}\n");
    text = util_buf_take(&b);
    m = load_ok(text);
    assert_string_equal(hs_of(m, "p0@x.test"), "h0.test");
    assert_string_equal(hs_of(m, "p99@x.test"), "h99.test");
    assert_string_equal(hs_of(m, "q@x.test"), "all.test");
    routing_release(m);
    free(text);
}

static void
test_non_ascii_addresses_skip_the_index(void **state)
{
    /* U+017F (long s) matches "s" without regard to case, so the address is tried
     * against patterns whose ending it does not have byte for byte. */
    struct routing_map *m = load_ok(PATTERNS "      - '.*\\.sec@w\\.test': {hs: sec.test}\n"
                                             "      - '.*': {hs: all.test}\n");

    (void)state;
    assert_string_equal(hs_of(m, "jean.sec@w.test"), "sec.test");
    assert_string_equal(hs_of(m, "jean.\xc5\xbf"
                                 "ec@w.test"),
                        "sec.test");
    assert_string_equal(hs_of(m, "jean.sec@v.test"), "all.test");
    routing_release(m);
}

static void
test_runaway_pattern_is_no_match(void **state)
{
    struct routing_map *m = load_ok(PATTERNS "      - '(a|aa)*c@x\\.test': {hs: slow.test}\n"
                                             "      - '.*': {hs: all.test}\n");
    char address[320];

    (void)state;
    memset(address, 'a', 300);
    snprintf(address + 300, sizeof(address) - 300, "bc@x.test");
    assert_string_equal(hs_of(m, address), "all.test");
    assert_string_equal(hs_of(m, "aac@x.test"), "slow.test");
    routing_release(m);
}

static void
test_keys(void **state)
{
    bool is_email = false;
    char *key = routing_key("Jean.Dupont@Example.ORG", &is_email);

    (void)state;
    assert_true(is_email);
    assert_string_equal(key, "jean.dupont@example.org");
    free(key);
    key = routing_key("Not An Address", &is_email);
    assert_false(is_email);
    assert_string_equal(key, "not an address"); /* as typed, ASCII lower-cased */
    free(key);
}

static void
test_no_mapping(void **state)
{
    struct routing_result out;

    (void)state;
    assert_false(routing_match(NULL, "a@x.test", &out));
    assert_null(out.hs);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars_typed_as_pyyaml),
        cmocka_unit_test(test_anchors_shared_by_entries),
        cmocka_unit_test(test_what_an_entry_must_hold),
        cmocka_unit_test(test_what_a_file_must_hold),
        cmocka_unit_test(test_empty_lists),
        cmocka_unit_test(test_platform_flags),
        cmocka_unit_test(test_has_server),
        cmocka_unit_test(test_server_external),
        cmocka_unit_test(test_exact_entries_first),
        cmocka_unit_test(test_file_order_across_the_index),
        cmocka_unit_test(test_many_patterns_one_ending),
        cmocka_unit_test(test_non_ascii_addresses_skip_the_index),
        cmocka_unit_test(test_runaway_pattern_is_no_match),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_no_mapping),
    };

    int failed;

    addr_init(); /* routing_key's normaliser */
    failed = cmocka_run_group_tests(tests, NULL, NULL);
    addr_shutdown();
    return failed;
}
