/*
 * annuaire check-config -c FILE: loads the configuration (with environment overrides), prints
 * the effective value of every key, secrets masked, and loads routing.info_file when one is
 * set. Exits 0 when valid, 1 when not.
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
    "effective value of every key, secrets masked, and loads the routing file\n"
    "(routing.info_file) if one is set and the mail and page templates\n"
    "(mail.templates_dir). Exits 0 when valid, 1 when not.\n\n"
    "  -c, --config FILE   configuration file (YAML)\n"
    "  -h, --help          this help\n";

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
    if (cfg->routing.info_file != NULL) {
        struct routing_map *r;
        char err[512];

        r = routing_load(cfg->routing.info_file, &cfg->routing, err, sizeof(err));
        if (r == NULL) {
            fprintf(stderr, "annuaire check-config: routing.info_file: %s\n", err);
            cfg_free(cfg);
            return CMD_EXIT_FAILURE;
        }
        routing_release(r);
    }
    {
        char err[512];

        if (enr_templates_check(cfg, err, sizeof(err)) != 0) {
            fprintf(stderr, "annuaire check-config: mail.templates_dir: %s\n", err);
            cfg_free(cfg);
            return CMD_EXIT_FAILURE;
        }
    }
    if (lsync_check_files(cfg, NULL, "annuaire check-config", path, stderr) != 0) {
        cfg_free(cfg);
        return CMD_EXIT_FAILURE;
    }
    printf("%s: configuration OK\n", path);
    cfg_free(cfg);
    return CMD_EXIT_OK;
}
