/*
 * annuaire check-config -c FILE: loads the configuration (with environment overrides),
 * prints the effective value of every key, secrets masked, then checks the files serve
 * reads at start: the signing key, the mail and page templates, the routing file.
 * Exits 0 when all is valid, 1 when not, every problem printed with file:line:key.
 */
#include <stdio.h>

#include "cmd/cmd.h"
#include "directory/directory.h"
#include "enroll/enroll.h"
#include "ldap-sync/ldap_sync.h"
#include "routing/routing.h"

static const char usage[] =
    "usage: annuaire check-config -c FILE\n\n"
    "Validates a configuration file (with environment overrides) and prints the\n"
    "effective value of every key, secrets masked; then checks what serve reads at\n"
    "start: the signing key (keys.signing_key_file), the mail and page templates\n"
    "(mail.templates_dir) and the routing file (routing.info_file) if one is set.\n"
    "Every problem is printed with the file, line and key (or the environment\n"
    "variable) it comes from. Exits 0 when valid, 1 when not.\n\n"
    "  -c, --config FILE   configuration file (YAML)\n"
    "  -h, --help          this help\n";

/* "annuaire CMD: <where key was set>: why" */
static void
print_at(const char *cmd, const struct cfg *cfg, const char *key, const char *why)
{
    char where[256];

    cfg_where(cfg, key, where, sizeof(where));
    fprintf(stderr, "annuaire %s: %s: %s\n", cmd, where, why);
}

int
cmd_check_start_files(const char *cmd, const struct cfg *cfg, bool keep_key)
{
    char err[512];
    int problems = 0;

    /* Loaded as serve loads it (the message says how to make one). */
    if (dir_keys_load(cfg->keys.signing_key_file, err, sizeof(err)) != 0) {
        print_at(cmd, cfg, "keys.signing_key_file", err);
        problems++;
    } else if (!keep_key) {
        dir_keys_unload();
    }
    if (enr_templates_check(cfg, err, sizeof(err)) != 0) {
        print_at(cmd, cfg, "mail.templates_dir", err);
        problems++;
    }
    if (cfg->routing.info_file != NULL) {
        struct routing_map *r =
            routing_load(cfg->routing.info_file, &cfg->routing, err, sizeof(err));

        if (r == NULL) {
            print_at(cmd, cfg, "routing.info_file", err);
            problems++;
        }
        routing_release(r);
    }
    return problems;
}

int
cmd_check_config(int argc, char **argv)
{
    const char *path = NULL;
    int rc = cmd_parse_common("check-config", argc, argv, usage, &path);
    struct cfg *cfg;

    if (rc >= 0) {
        return rc;
    }
    cfg = cmd_load_config("check-config", path);
    if (cfg == NULL) {
        return CMD_EXIT_FAILURE;
    }
    cfg_dump(cfg, stdout);
    rc = cmd_check_start_files("check-config", cfg, false) == 0 ? CMD_EXIT_OK : CMD_EXIT_FAILURE;
    /* serve reads no LDIF file: the sources' files are checked here and by sync only. */
    if (lsync_check_files(cfg, NULL, "annuaire check-config", path, stderr) != 0) {
        rc = CMD_EXIT_FAILURE;
    }
    if (rc == CMD_EXIT_OK) {
        printf("%s: configuration OK\n", path);
    }
    cfg_free(cfg);
    return rc;
}
