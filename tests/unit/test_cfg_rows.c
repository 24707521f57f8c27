/* unit.core.cfg_rows: the row interpreter of core/cfg.c on a section of its own (types,
 * bounds, defaults, secrets from a file, errors as file:line: key) and on records. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/cfg.h"
#include "core/util.h"

/* A section stored in a block of its own, as the next modules' sections are. */
struct demo {
    char *name;
    long count;
    int small;
    long enabled;
    char *token; /* secret */
    json_t *hosts;
};

static const struct cfg_row demo_rows[] = {
    { "demo.count", CFG_INT, CFG_FIELD(struct demo, count), "7", 1, 100, 0, NULL },
    { "demo.enabled", CFG_BOOL, CFG_FIELD(struct demo, enabled), "true", 0, 0, 0, NULL },
    { "demo.hosts", CFG_JSON, CFG_FIELD(struct demo, hosts), "[]", 0, 0, 0, cfg_check_string_list },
    { "demo.name", CFG_STRING, CFG_FIELD(struct demo, name), "demo", 2, 8, 0, NULL },
    { "demo.small", CFG_INT, CFG_FIELD(struct demo, small), "-3", -5, 5, 0, NULL },
    { "demo.token", CFG_STRING, CFG_FIELD(struct demo, token), NULL, 4, 64, CFG_SECRET, NULL },
};

static const struct cfg_section demo_section = {
    "demo", demo_rows, ANN_ARRAY_LEN(demo_rows), sizeof(struct demo), NULL,
};

static char *
write_temp(const char *text, size_t len)
{
    char *path = xstrdup("/tmp/annuaire-cfg-rows-XXXXXX");
    int fd = mkstemp(path);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
    return path;
}

/* Loads text as a configuration file. @return the configuration, or NULL with err set */
static struct cfg *
load_text(const char *text, char err[CFG_ERR_SIZE], char **path)
{
    struct cfg *cfg = NULL;

    *path = write_temp(text, strlen(text));
    if (cfg_load(*path, &cfg, err) != 0) {
        return NULL;
    }
    return cfg;
}

/* Expects text to be refused with "<file>:<want>". */
static void
expect_error(const char *text, const char *want)
{
    char err[CFG_ERR_SIZE];
    char expected[CFG_ERR_SIZE + 64];
    char *path = NULL;
    struct cfg *cfg = load_text(text, err, &path);

    assert_null(cfg);
    snprintf(expected, sizeof(expected), "%s:%s", path, want);
    if (strcmp(err, expected) != 0) {
        fail_msg("got '%s', want '%s'", err, expected);
    }
    unlink(path);
    free(path);
}

static void
test_defaults_in_a_block(void **state)
{
    char err[CFG_ERR_SIZE];
    char *path = NULL;
    struct cfg *cfg = load_text("demo: {}\n", err, &path);
    const struct demo *d;

    assert_non_null(cfg);
    d = cfg_section_get(cfg, &demo_section);
    assert_non_null(d);
    assert_int_equal(d->count, 7);
    assert_int_equal(d->small, -3);
    assert_int_equal(d->enabled, 1);
    assert_string_equal(d->name, "demo");
    assert_null(d->token);
    assert_int_equal(json_array_size(d->hosts), 0);
    cfg_free(cfg);
    unlink(path);
    free(path);
}

static void
test_values_and_types(void **state)
{
    char err[CFG_ERR_SIZE];
    char *path = NULL;
    struct cfg *cfg =
        load_text("demo:\n  count: 100\n  small: 5\n  enabled: no\n  name: ab\n  hosts: [a, b]\n",
                  err, &path);
    const struct demo *d;

    if (cfg == NULL) {
        fail_msg("%s", err);
    }
    d = cfg_section_get(cfg, &demo_section);
    assert_int_equal(d->count, 100);
    assert_int_equal(d->small, 5);
    assert_int_equal(d->enabled, 0);
    assert_string_equal(d->name, "ab");
    assert_string_equal(json_string_value(json_array_get(d->hosts, 1)), "b");
    cfg_free(cfg);
    unlink(path);
    free(path);
}

static void
test_bounds_and_types_refused(void **state)
{
    expect_error("demo:\n  count: 0\n", "2: demo.count: expected an integer in range [1, 100]");
    expect_error("demo:\n  count: 101\n", "2: demo.count: expected an integer in range [1, 100]");
    expect_error("demo:\n  small: -6\n", "2: demo.small: expected an integer in range [-5, 5]");
    expect_error("demo:\n  count: seven\n", "2: demo.count: expected an integer in range [1, 100]");
    expect_error("demo:\n  name: a\n", "2: demo.name: length out of range");
    expect_error("demo:\n  name: abcdefghi\n", "2: demo.name: length out of range");
    expect_error("demo:\n  enabled: maybe\n", "2: demo.enabled: expected true or false");
    expect_error("demo:\n  hosts: [a, \"\"]\n", "2: demo.hosts: every item must be non-empty text");
    expect_error("demo:\n  name: [a]\n", "2: demo.name: expected a single value, not a list");
}

static void
test_unknown_key_names_file_line_key(void **state)
{
    expect_error("demo:\n  count: 3\n  colour: red\n", "3: demo.colour: unknown key");
    expect_error("demo:\n  count_file: /x\n", "2: demo.count_file: unknown key");
    expect_error("\n\ndemos:\n  count: 3\n", "3: demos: unknown key");
}

static void
test_secret_from_file(void **state)
{
    char *secret = write_temp("tok-from-file\r\n\n", 16);
    char *text = xasprintf("demo:\n  token_file: %s\n", secret);
    char *with_nul = write_temp("tok\0en\n", 7);
    char *text_nul = xasprintf("demo:\n  token_file: %s\n", with_nul);
    char *want_nul = xasprintf("2: demo.token_file: file contains a NUL byte");
    char err[CFG_ERR_SIZE];
    char *path = NULL;
    struct cfg *cfg = load_text(text, err, &path);
    const struct demo *d;
    char *dump = NULL;
    size_t dump_len = 0;
    FILE *out;
    char *data = NULL;
    size_t len = 0;

    if (cfg == NULL) {
        fail_msg("%s", err);
    }
    d = cfg_section_get(cfg, &demo_section);
    assert_string_equal(d->token, "tok-from-file");
    out = open_memstream(&dump, &dump_len);
    cfg_dump(cfg, out);
    fclose(out);
    assert_non_null(strstr(dump, "demo.token: (set)\n"));
    assert_non_null(strstr(dump, "demo.count: 7\n"));
    assert_non_null(strstr(dump, "demo.small: -3\n")); /* an int row */
    assert_non_null(strstr(dump, "demo.enabled: true\n"));
    assert_null(strstr(dump, "tok-from-file"));
    free(dump);
    cfg_free(cfg);
    unlink(path);
    free(path);

    /* The one reader of secret files: line ends dropped, a NUL byte shows in the length. */
    assert_int_equal(cfg_read_secret(secret, 4096, &data, &len), 0);
    assert_string_equal(data, "tok-from-file");
    assert_int_equal(len, 13);
    free(data);
    assert_int_equal(cfg_read_secret(with_nul, 4096, &data, &len), 0);
    assert_int_equal(len, 6);
    assert_int_equal(strlen(data), 3);
    free(data);
    assert_int_equal(cfg_read_secret("/nonexistent/secret", 4096, &data, &len), -1);
    expect_error(text_nul, want_nul);

    unlink(secret);
    unlink(with_nul);
    free(secret);
    free(with_nul);
    free(text);
    free(text_nul);
    free(want_nul);
}

/* A record, as a sync source is: texts, numbers of three widths, lists, a sub-mapping. */
struct rec {
    const char *name;
    int prio;
    long big;
    bool flag;
    const char *items[2];
    size_t n_items;
    const char *sub_text;
    int sub_num;
};

CFG_COUNT_FOLLOWS(struct rec, items, n_items);

static const struct cfg_row rec_rows[] = {
    { "name", CFG_STRING, CFG_FIELD(struct rec, name), NULL, 1, 8, 0, NULL },
    { "prio", CFG_INT, CFG_FIELD(struct rec, prio), "100", 0, 1000, 0, NULL },
    { "big", CFG_INT, CFG_FIELD(struct rec, big), "-1", 0, 100000000, 0, NULL },
    { "flag", CFG_BOOL, CFG_FIELD(struct rec, flag), NULL, 0, 0, 0, NULL },
    { "items", CFG_TEXT_OR_LIST, CFG_FIELD(struct rec, items), NULL, 1, 4, 0, NULL },
    { "sub.text", CFG_STRING, CFG_FIELD(struct rec, sub_text), "dflt", 1, 8, 0, NULL },
    { "sub.num", CFG_INT, CFG_FIELD(struct rec, sub_num), "9", 1, 10, 0, NULL },
};

static void
check_record(const char *json, const char *prefix, const char *want)
{
    json_t *obj = json_loads(json, 0, NULL);
    char err[128];
    const char *got;

    assert_non_null(obj);
    got = cfg_record_check(rec_rows, ANN_ARRAY_LEN(rec_rows),
                           prefix[0] ? json_object_get(obj, "sub") : obj, prefix, "r[0]", err,
                           sizeof(err));
    if (want == NULL) {
        assert_null(got);
    } else if (got == NULL || strcmp(got, want) != 0) {
        fail_msg("%s: got '%s', want '%s'", json, got ? got : "(accepted)", want);
    }
    json_decref(obj);
}

static void
test_record_check(void **state)
{
    check_record("{\"name\": \"a\", \"prio\": \"7\", \"flag\": \"true\", \"items\": \"x\"}", "",
                 NULL);
    check_record("{\"prio\": 7, \"flag\": false, \"items\": [\"x\", \"y\", \"z\"]}", "", NULL);
    check_record("{\"nmae\": \"a\"}", "", "r[0].nmae: unknown key");
    check_record("{\"sub.text\": \"a\"}", "", "r[0].sub.text: unknown key");
    check_record("{\"prio\": \"1001\"}", "", "r[0].prio: not a valid value");
    check_record("{\"prio\": -1}", "", "r[0].prio: not a valid value");
    check_record("{\"name\": \"\"}", "", "r[0].name: not a valid value");
    check_record("{\"name\": 5}", "", "r[0].name: not a valid value");
    check_record("{\"flag\": \"yes\"}", "", "r[0].flag: not a valid value");
    check_record("{\"items\": []}", "", "r[0].items: not a valid value");
    check_record("{\"items\": [\"toolong\"]}", "", "r[0].items: not a valid value");
    check_record("{\"sub\": \"x\"}", "", "r[0].sub: not a valid value");
    check_record("{\"sub\": {\"num\": \"11\"}}", "", NULL); /* sub-mappings: the caller's turn */
    check_record("{\"sub\": {\"num\": \"11\"}}", "sub.", "r[0].num: not a valid value");
    check_record("{\"sub\": {\"txt\": \"a\"}}", "sub.", "r[0].txt: unknown key");
    check_record("[]", "", "r[0]: expected a mapping");
}

static void
test_record_fill(void **state)
{
    json_t *obj =
        json_loads("{\"name\": \"a\", \"big\": \"12\", \"flag\": true, \"items\": [\"x\", "
                   "\"y\", \"z\"], \"sub\": {\"num\": 3}}",
                   0, NULL);
    json_t *bare = json_loads("{\"prio\": 5, \"items\": \"w\"}", 0, NULL);
    struct rec r;

    memset(&r, 0, sizeof(r));
    cfg_record_fill(rec_rows, ANN_ARRAY_LEN(rec_rows), obj, &r);
    assert_string_equal(r.name, "a");
    assert_int_equal(r.prio, 100); /* the default */
    assert_int_equal(r.big, 12);
    assert_true(r.flag);
    assert_int_equal(r.n_items, 2); /* the array holds two: the third is left out */
    assert_string_equal(r.items[1], "y");
    assert_string_equal(r.sub_text, "dflt"); /* the sub-mapping is given: its defaults apply */
    assert_int_equal(r.sub_num, 3);

    memset(&r, 0, sizeof(r));
    r.name = "kept";
    cfg_record_fill(rec_rows, ANN_ARRAY_LEN(rec_rows), bare, &r);
    assert_string_equal(r.name, "kept"); /* no default: left as it was */
    assert_int_equal(r.prio, 5);
    assert_int_equal(r.big, -1);
    assert_false(r.flag);
    assert_int_equal(r.n_items, 1);
    assert_string_equal(r.items[0], "w");
    assert_null(r.sub_text); /* no sub-mapping: none of its defaults */
    assert_int_equal(r.sub_num, 0);
    json_decref(obj);
    json_decref(bare);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_in_a_block),
        cmocka_unit_test(test_values_and_types),
        cmocka_unit_test(test_bounds_and_types_refused),
        cmocka_unit_test(test_unknown_key_names_file_line_key),
        cmocka_unit_test(test_secret_from_file),
        cmocka_unit_test(test_record_check),
        cmocka_unit_test(test_record_fill),
    };

    cfg_register(&demo_section, 1);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
