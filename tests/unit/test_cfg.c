/* unit.core.cfg: configuration parsing, errors naming file:line:key, secrets, environment. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "admin/admin.h"
#include "core/cfg.h"
#include "core/util.h"
#include "directory/directory.h"
#include "directory/search.h"
#include "enroll/enroll.h"
#include "ldap-sync/ldap_sync.h"

static const char *data_dir = ANN_TEST_DATA "/cfg";

struct err_case {
    const char *file;
    const char *want; /* expected error, after "<dir>/<file>:" */
};

static void
test_errors_name_file_line_key(void **state)
{
    static const struct err_case cases[] = {
        { "unknown_key.yaml", "2: http.prot: unknown key" },
        { "unknown_section.yaml", "3: htp: unknown key" },
        { "bad_int.yaml", "2: http.port: expected an integer in range [0, 65535]" },
        { "out_of_range.yaml", "4: http.port: expected an integer in range [0, 65535]" },
        { "bad_level.yaml", "2: log.level: expected one of error, warn, info, debug" },
        { "not_mapping.yaml", "1: http: expected a mapping of keys" },
        { "list_value.yaml", "2: http.port: expected a single value, not a list" },
        { "duplicate.yaml", "3: http.port: given more than once" },
        { "invalid_yaml.yaml", "2: invalid YAML" },
        { "top_list.yaml", "1: the top level must be a mapping of sections" },
        { "non_secret_file.yaml", "2: http.port_file: unknown key" },
        { "missing_secret_file.yaml",
          "2: database.password_file: cannot read /nonexistent/secret: No such file or directory" },
        { "secret_twice.yaml",
          "3: database.password_file: database.password is given more than once" },
        { "two_docs.yaml", "4: only one YAML document is allowed" },
        { "body_too_small.yaml", "4: http.max_body_bytes: 65536 bytes cannot hold a lookup of "
                                 "lookup.max_addresses (10000) hashes: at least 471024" },
        { "search_bad_client_host.yaml",
          "3: search.client_hosts: every key must be a host name, with a port or not" },
        { "search_bad_client_url.yaml", "3: search.client_hosts: every value must be an http(s) "
                                        "URL without blanks or control characters" },
        { "search_bad_delegating.yaml",
          "2: search.delegating_homeservers: every item must be a Matrix server name" },
        { "search_min_term.yaml", "2: search.min_term: expected an integer in range [1, 32]" },
        { "bad_bind_address.yaml", "2: http.bind_address: must be a numeric IPv4 or IPv6 address" },
        { "bad_internal_bind.yaml",
          "3: routing.internal_bind_address: must be a numeric IPv4 or IPv6 address" },
        { "bad_admin_bind.yaml", "2: admin.bind_address: must be a numeric IPv4 or IPv6 address" },
        { "base_url_scheme.yaml", "3: server.public_base_url: must be an http:// or https:// URL" },
        { "base_url_slash.yaml", "2: server.public_base_url: must not end with a slash" },
        { "base_url_no_host.yaml", "2: server.public_base_url: must name a host" },
        { "base_url_port.yaml", "2: server.public_base_url: must name a host" },
        { "internal_port_same.yaml", "4: routing.internal_port: must differ from http.port" },
        /* A check's path into a list names the item's line, not the line of sources:. */
        { "sources_item_line.yaml", "10: sync.sources: sources[1].priority: not a valid value" },
        { "sources_ldap_line.yaml",
          "7: sync.sources: sources[0].ldap.urls: ldap:// or ldaps:// only" },
        { "sources_missing_name.yaml",
          "7: sync.sources: sources[1]: needs a name ([a-z0-9_-]) and a ministry" },
        /* Refused at once: the line map of a refused value is not walked (its aliases
         * would name 10^12 nodes). */
        { "alias_bomb.yaml", "4: sync.sources: too many values (aliases expanding?)" },
    };

    for (size_t i = 0; i < ANN_ARRAY_LEN(cases); i++) {
        char path[512];
        char want[768];
        char err[CFG_ERR_SIZE];
        struct cfg *cfg = (struct cfg *)1;

        snprintf(path, sizeof(path), "%s/%s", data_dir, cases[i].file);
        snprintf(want, sizeof(want), "%s:%s", path, cases[i].want);
        assert_int_equal(cfg_load(path, &cfg, err), -1);
        assert_null(cfg);
        if (strncmp(err, want, strlen(want)) != 0) {
            fail_msg("%s: got '%s', want '%s'", cases[i].file, err, want);
        }
    }
}

static void
test_missing_file(void **state)
{
    char err[CFG_ERR_SIZE];
    struct cfg *cfg = NULL;

    assert_int_equal(cfg_load("/nonexistent/annuaire.yaml", &cfg, err), -1);
    assert_string_equal(err, "/nonexistent/annuaire.yaml: cannot read: No such file or directory");
}

static void
test_defaults_from_empty_file(void **state)
{
    char path[512];
    char err[CFG_ERR_SIZE];
    struct cfg *cfg = NULL;

    snprintf(path, sizeof(path), "%s/empty.yaml", data_dir);
    assert_int_equal(cfg_load(path, &cfg, err), 0);
    assert_int_equal(cfg->http.port, 8090);
    assert_int_equal(cfg->http.max_body_bytes, 1048576);
    assert_int_equal(cfg->http.max_connections_per_ip, 64);
    assert_int_equal(cfg->http.request_timeout, 15);
    assert_int_equal(cfg->http.public_metrics, 0);
    assert_int_equal(cfg->http.threads, 0);
    assert_string_equal(cfg->http.bind_address, "127.0.0.1");
    assert_null(cfg->database.password);
    {
        const struct dir_search_config sc = dir_search_config(cfg);

        assert_int_equal(sc.min_term, 2);
        assert_false(sc.return_email);
        assert_false(sc.include_externals);
        assert_int_equal(sc.per_token_per_hour, 300);
        assert_int_equal(sc.per_server_per_hour, 36000);
        assert_int_equal(sc.per_ip_per_hour, 1200);
        assert_int_equal(json_object_size(sc.client_hosts), 0);
        assert_true(json_is_array(sc.delegating_hs) && json_array_size(sc.delegating_hs) == 0);
    }
    cfg_free(cfg);
}

static char *
write_temp(const char *text)
{
    char *path = xstrdup("/tmp/annuaire-cfg-XXXXXX");
    int fd = mkstemp(path);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void
test_secret_from_file_and_environment(void **state)
{
    char *secret = write_temp("s3cret-from-file\n");
    char *yaml_text =
        xasprintf("database:\n  conninfo: \"dbname=x\"\n  password_file: %s\n", secret);
    char *conf = write_temp(yaml_text);
    char err[CFG_ERR_SIZE];
    struct cfg *cfg = NULL;
    char *dump = NULL;
    size_t dump_len = 0;
    FILE *out;

    assert_int_equal(cfg_load(conf, &cfg, err), 0);
    assert_string_equal(cfg->database.password, "s3cret-from-file");
    /* check-config output masks the secret. */
    out = open_memstream(&dump, &dump_len);
    cfg_dump(cfg, out);
    fclose(out);
    assert_non_null(strstr(dump, "database.password: (set)"));
    assert_null(strstr(dump, "s3cret"));
    free(dump);
    cfg_free(cfg);

    setenv("ANNUAIRE_DATABASE_PASSWORD", "from-env", 1);
    setenv("ANNUAIRE_HTTP_PORT", "9999", 1);
    assert_int_equal(cfg_load(conf, &cfg, err), 0);
    assert_string_equal(cfg->database.password, "from-env");
    assert_int_equal(cfg->http.port, 9999);
    cfg_free(cfg);

    setenv("ANNUAIRE_HTTP_PORT", "99999", 1);
    assert_int_equal(cfg_load(conf, &cfg, err), -1);
    assert_string_equal(err, "environment ANNUAIRE_HTTP_PORT (http.port): expected an integer in "
                             "range");
    unsetenv("ANNUAIRE_HTTP_PORT");
    unsetenv("ANNUAIRE_DATABASE_PASSWORD");

    unlink(secret);
    unlink(conf);
    free(secret);
    free(conf);
    free(yaml_text);
}

/* A secret file that is a FIFO (no writer: opening it would wait forever) or a device is
 * refused, in the file and from the environment. */
static void
test_secret_file_not_regular(void **state)
{
    char fifo[] = "/tmp/annuaire-cfg-fifo-XXXXXX";
    char *yaml_text;
    char *conf;
    char *env_conf;
    char err[CFG_ERR_SIZE];
    struct cfg *cfg = NULL;

    assert_non_null(mkdtemp(fifo));
    assert_int_equal(rmdir(fifo), 0);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    yaml_text = xasprintf("database:\n  password_file: %s\n", fifo);
    conf = write_temp(yaml_text);
    assert_int_equal(cfg_load(conf, &cfg, err), -1);
    assert_null(cfg);
    assert_non_null(strstr(err, ": database.password_file: cannot read "));
    assert_non_null(strstr(err, ": not a regular file"));

    env_conf = write_temp("http:\n  port: 8090\n");
    setenv("ANNUAIRE_DATABASE_PASSWORD_FILE", "/dev/zero", 1);
    assert_int_equal(cfg_load(env_conf, &cfg, err), -1);
    unsetenv("ANNUAIRE_DATABASE_PASSWORD_FILE");
    assert_non_null(strstr(err, "cannot read /dev/zero: not a regular file"));

    unlink(fifo);
    unlink(conf);
    unlink(env_conf);
    free(conf);
    free(env_conf);
    free(yaml_text);
}

struct problems {
    char lines[8][CFG_ERR_SIZE];
    size_t n;
};

static void
collect(void *arg, const char *problem)
{
    struct problems *p = arg;

    assert_true(p->n < ANN_ARRAY_LEN(p->lines));
    snprintf(p->lines[p->n++], CFG_ERR_SIZE, "%s", problem);
}

static void
test_every_problem_is_reported(void **state)
{
    char path[512];
    char want[3][640];
    struct problems p = { .n = 0 };
    struct cfg *cfg = (struct cfg *)1;

    snprintf(path, sizeof(path), "%s/several_problems.yaml", data_dir);
    setenv("ANNUAIRE_LOG_LEVLE", "debug", 1);
    assert_int_equal(cfg_load_each(path, &cfg, collect, &p), 5);
    unsetenv("ANNUAIRE_LOG_LEVLE");
    assert_null(cfg);
    snprintf(want[0], sizeof(want[0]), "%s:2: http.port: expected an integer", path);
    snprintf(want[1], sizeof(want[1]), "%s:3: http.treads: unknown key", path);
    snprintf(want[2], sizeof(want[2]), "%s:5: server.public_base_url: must not end", path);
    for (size_t i = 0; i < 3; i++) {
        if (strncmp(p.lines[i], want[i], strlen(want[i])) != 0) {
            fail_msg("problem %zu: got '%s', want '%s'", i, p.lines[i], want[i]);
        }
    }
    assert_non_null(strstr(p.lines[3], ":7: log.level: expected one of"));
    assert_string_equal(p.lines[4], "environment ANNUAIRE_LOG_LEVLE: no such key (did you mean "
                                    "ANNUAIRE_LOG_LEVEL?)");
}

static void
test_environment_names_only_keys(void **state)
{
    char path[512];
    char err[CFG_ERR_SIZE];
    struct cfg *cfg = NULL;
    char *secret = write_temp("from-a-file\n");
    char *yaml_text = xasprintf("sync:\n  sources:\n    - name: a\n      ministry: A\n      ldap:\n"
                                "        urls: [ldap://a.test]\n        base_dns: [dc=a]\n"
                                "        bind_password_env: ANNUAIRE_LDAP_A_PASSWORD\n");
    char *conf = write_temp(yaml_text);
    char where[256];

    snprintf(path, sizeof(path), "%s/empty.yaml", data_dir);
    /* A misspelt key is an error, with the closest name. */
    setenv("ANNUAIRE_HTTP_PROT", "8091", 1);
    assert_int_equal(cfg_load(path, &cfg, err), -1);
    assert_string_equal(
        err, "environment ANNUAIRE_HTTP_PROT: no such key (did you mean ANNUAIRE_HTTP_PORT?)");
    unsetenv("ANNUAIRE_HTTP_PROT");
    setenv("ANNUAIRE_NOTHING_LIKE_IT", "1", 1);
    assert_int_equal(cfg_load(path, &cfg, err), -1);
    assert_string_equal(err, "environment ANNUAIRE_NOTHING_LIKE_IT: no such key");
    unsetenv("ANNUAIRE_NOTHING_LIKE_IT");
    /* A non-secret key has no _FILE variable. */
    setenv("ANNUAIRE_HTTP_PORT_FILE", secret, 1);
    assert_int_equal(cfg_load(path, &cfg, err), -1);
    assert_non_null(strstr(err, "environment ANNUAIRE_HTTP_PORT_FILE: no such key"));
    unsetenv("ANNUAIRE_HTTP_PORT_FILE");

    /* The build's and the tests' own variables are not configuration. */
    setenv("ANNUAIRE_BIN", "/x/annuaire", 1);
    setenv("ANNUAIRE_SOURCE_DIR", "/x", 1);
    setenv("ANNUAIRE_IT_ANYTHING", "1", 1);
    setenv("ANNUAIRE_TEST_REQUIRE_SERVICES", "1", 1);
    assert_int_equal(cfg_load(path, &cfg, err), 0);
    cfg_free(cfg);
    unsetenv("ANNUAIRE_BIN");
    unsetenv("ANNUAIRE_SOURCE_DIR");
    unsetenv("ANNUAIRE_IT_ANYTHING");

    /* A secret's _FILE variable reads the file; with the variable itself too, an error. */
    setenv("ANNUAIRE_DATABASE_PASSWORD_FILE", secret, 1);
    assert_int_equal(cfg_load(path, &cfg, err), 0);
    assert_string_equal(cfg->database.password, "from-a-file");
    cfg_where(cfg, "database.password", where, sizeof(where));
    assert_string_equal(where, "environment ANNUAIRE_DATABASE_PASSWORD_FILE (database.password)");
    cfg_free(cfg);
    setenv("ANNUAIRE_DATABASE_PASSWORD", "inline", 1);
    assert_int_equal(cfg_load(path, &cfg, err), -1);
    assert_string_equal(err,
                        "environment ANNUAIRE_DATABASE_PASSWORD and "
                        "ANNUAIRE_DATABASE_PASSWORD_FILE (database.password): give one of them");
    unsetenv("ANNUAIRE_DATABASE_PASSWORD");
    setenv("ANNUAIRE_DATABASE_PASSWORD_FILE", "/nonexistent/pw", 1);
    assert_int_equal(cfg_load(path, &cfg, err), -1);
    assert_string_equal(err, "environment ANNUAIRE_DATABASE_PASSWORD_FILE (database.password): "
                             "cannot read /nonexistent/pw: No such file or directory");
    unsetenv("ANNUAIRE_DATABASE_PASSWORD_FILE");

    /* A variable a source names for its password is that source's. */
    setenv("ANNUAIRE_LDAP_A_PASSWORD", "pw", 1);
    assert_int_equal(cfg_load(conf, &cfg, err), 0);
    cfg_free(cfg);
    assert_int_equal(cfg_load(path, &cfg, err), -1);
    unsetenv("ANNUAIRE_LDAP_A_PASSWORD");

    unlink(secret);
    unlink(conf);
    free(secret);
    free(conf);
    free(yaml_text);
}

static void
test_where_a_value_came_from(void **state)
{
    char path[512];
    char want[600];
    char where[256];
    char err[CFG_ERR_SIZE];
    struct cfg *cfg = NULL;

    snprintf(path, sizeof(path), "%s/out_of_range.yaml", data_dir);
    /* bind_address on line 3, the port given (badly) on line 4: fixed from the env. */
    setenv("ANNUAIRE_HTTP_PORT", "8091", 1);
    assert_int_equal(cfg_load(path, &cfg, err), -1); /* the file's value is still checked */
    unsetenv("ANNUAIRE_HTTP_PORT");
    snprintf(path, sizeof(path), "%s/bad_internal_bind.yaml", data_dir);
    setenv("ANNUAIRE_ROUTING_INTERNAL_BIND_ADDRESS", "::1", 1);
    setenv("ANNUAIRE_HTTP_PORT", "8091", 1);
    assert_int_equal(cfg_load(path, &cfg, err), -1); /* the file's bad value, then the env */
    snprintf(path, sizeof(path), "%s/internal_port_same.yaml", data_dir);
    setenv("ANNUAIRE_HTTP_PORT", "8090", 1);
    assert_int_equal(cfg_load(path, &cfg, err), -1);
    snprintf(want, sizeof(want), "%s:4: routing.internal_port: must differ", path);
    assert_memory_equal(err, want, strlen(want));
    setenv("ANNUAIRE_HTTP_PORT", "8091", 1);
    assert_int_equal(cfg_load(path, &cfg, err), 0);
    cfg_where(cfg, "http.port", where, sizeof(where));
    assert_string_equal(where, "environment ANNUAIRE_HTTP_PORT (http.port)");
    cfg_where(cfg, "routing.internal_port", where, sizeof(where));
    snprintf(want, sizeof(want), "%s:4: routing.internal_port", path);
    assert_string_equal(where, want);
    cfg_where(cfg, "mail.smtp_host", where, sizeof(where));
    snprintf(want, sizeof(want), "%s: mail.smtp_host", path);
    assert_string_equal(where, want);
    cfg_free(cfg);
    unsetenv("ANNUAIRE_HTTP_PORT");
    unsetenv("ANNUAIRE_ROUTING_INTERNAL_BIND_ADDRESS");
}

static void
test_where_inside_a_list(void **state)
{
    char *conf = write_temp("sync:\n"
                            "  sources:\n"
                            "    - name: a\n"
                            "      ministry: A\n"
                            "      ldif: /a.ldif\n"
                            "    -   name: b\n"
                            "        ministry: B\n"
                            "\n"
                            "        ldif: /b.ldif\n");
    char err[CFG_ERR_SIZE];
    char where[256];
    char want[600];
    struct cfg *cfg = NULL;
    static const struct {
        const char *path;
        int line;
    } cases[] = {
        { "sources[1].ldif", 9 }, { "[1].ldif", 9 },        { "sources[1].nothing", 6 },
        { "sources[0]", 3 },      { "sources[7].ldif", 3 }, { "", 3 },
    };

    assert_int_equal(cfg_load(conf, &cfg, err), 0);
    for (size_t i = 0; i < ANN_ARRAY_LEN(cases); i++) {
        cfg_where_in(cfg, "sync.sources", cases[i].path, where, sizeof(where));
        snprintf(want, sizeof(want), "%s:%d: sync.sources", conf, cases[i].line);
        if (strcmp(where, want) != 0) {
            fail_msg("%s: got '%s', want '%s'", cases[i].path, where, want);
        }
    }
    cfg_free(cfg);
    /* From the environment: its variable, whatever the path. */
    setenv("ANNUAIRE_SYNC_SOURCES", "[]", 1);
    assert_int_equal(cfg_load(conf, &cfg, err), 0);
    cfg_where_in(cfg, "sync.sources", "sources[1].ldif", where, sizeof(where));
    assert_string_equal(where, "environment ANNUAIRE_SYNC_SOURCES (sync.sources)");
    cfg_free(cfg);
    unsetenv("ANNUAIRE_SYNC_SOURCES");
    unlink(conf);
    free(conf);
}

static void
test_good_addresses_and_urls(void **state)
{
    static const char *const urls[] = { "http://127.0.0.1:8090", "https://is.example",
                                        "https://[2001:db8::1]:8443", "https://is.example/id",
                                        "http://127.0.0.1:0" };
    static const char *const binds[] = { "127.0.0.1", "0.0.0.0", "::", "::1", "2001:db8::1" };
    char path[512];
    char err[CFG_ERR_SIZE];
    struct cfg *cfg = NULL;

    snprintf(path, sizeof(path), "%s/empty.yaml", data_dir);
    for (size_t i = 0; i < ANN_ARRAY_LEN(urls); i++) {
        setenv("ANNUAIRE_SERVER_PUBLIC_BASE_URL", urls[i], 1);
        if (cfg_load(path, &cfg, err) != 0) {
            fail_msg("%s: %s", urls[i], err);
        }
        cfg_free(cfg);
    }
    unsetenv("ANNUAIRE_SERVER_PUBLIC_BASE_URL");
    for (size_t i = 0; i < ANN_ARRAY_LEN(binds); i++) {
        setenv("ANNUAIRE_HTTP_BIND_ADDRESS", binds[i], 1);
        setenv("ANNUAIRE_ADMIN_BIND_ADDRESS", binds[i], 1);
        setenv("ANNUAIRE_ROUTING_INTERNAL_BIND_ADDRESS", binds[i], 1);
        if (cfg_load(path, &cfg, err) != 0) {
            fail_msg("%s: %s", binds[i], err);
        }
        cfg_free(cfg);
    }
    unsetenv("ANNUAIRE_HTTP_BIND_ADDRESS");
    unsetenv("ANNUAIRE_ADMIN_BIND_ADDRESS");
    unsetenv("ANNUAIRE_ROUTING_INTERNAL_BIND_ADDRESS");
}

static void
test_example_config_is_valid_and_documents_every_key(void **state)
{
    const char *path = ANN_SOURCE_DIR "/conf/annuaire.yaml";
    char err[CFG_ERR_SIZE];
    struct cfg *cfg = NULL;
    char *text = NULL;

    if (cfg_load(path, &cfg, err) != 0) {
        fail_msg("%s", err);
    }
    cfg_free(cfg);
    assert_int_equal(util_read_file(path, 1 << 20, &text, NULL), 0);
    for (size_t i = 0; i < cfg_key_count(); i++) {
        const char *name = cfg_key_name(i);
        const char *leaf = strrchr(name, '.') + 1;
        char section[64];
        char needle[96];

        snprintf(section, sizeof(section), "%.*s:", (int)(leaf - name - 1), name);
        snprintf(needle, sizeof(needle), "%s:", leaf);
        if (strstr(text, section) == NULL || strstr(text, needle) == NULL) {
            fail_msg("conf/annuaire.yaml does not document %s", name);
        }
    }
    free(text);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errors_name_file_line_key),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_defaults_from_empty_file),
        cmocka_unit_test(test_secret_from_file_and_environment),
        cmocka_unit_test(test_secret_file_not_regular),
        cmocka_unit_test(test_every_problem_is_reported),
        cmocka_unit_test(test_environment_names_only_keys),
        cmocka_unit_test(test_where_a_value_came_from),
        cmocka_unit_test(test_where_inside_a_list),
        cmocka_unit_test(test_good_addresses_and_urls),
        cmocka_unit_test(test_example_config_is_valid_and_documents_every_key),
    };

    /* The sections serve reads, as cmd/main.c registers them. */
    cfg_register(dir_config_sections, dir_config_n_sections);
    cfg_register(enr_config_sections, enr_config_n_sections);
    cfg_register(lsync_config_sections, lsync_config_n_sections);
    cfg_register(adm_config_sections, adm_config_n_sections);
    cfg_register(dir_search_config_sections, dir_search_config_n_sections);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
