/*
 * annuaire keys generate -c FILE: writes a new Ed25519 signing key (ed25519:0) to
 * keys.signing_key_file, readable by its owner only; an existing file is never overwritten.
 */
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "directory/directory.h"

static const char usage[] =
    "usage: annuaire keys generate -c FILE\n\n"
    "Creates the Ed25519 signing key (" DIR_SIGNING_KEY_ID ") at keys.signing_key_file, readable\n"
    "only by its owner. Every instance of a deployment must share this one file. An\n"
    "existing file is never overwritten.\n\n"
    "  -c, --config FILE   configuration file (YAML)\n"
    "  -h, --help          this help\n";

int
cmd_keys(int argc, char **argv)
{
    const char *path = NULL;
    char err[512];
    struct cfg *cfg;
    int rc;

    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(usage, stdout);
        return CMD_EXIT_OK;
    }
    if (argc < 2 || strcmp(argv[1], "generate") != 0) {
        fprintf(stderr, "annuaire keys: expected 'generate' (see annuaire keys --help)\n");
        return CMD_EXIT_USAGE;
    }
    rc = cmd_parse_common("keys generate", argc - 1, argv + 1, usage, &path);
    if (rc >= 0) {
        return rc;
    }
    cfg = cmd_load_config("keys generate", path);
    if (cfg == NULL) {
        return CMD_EXIT_FAILURE;
    }
    rc = CMD_EXIT_OK;
    if (dir_keys_generate(cfg->keys.signing_key_file, err, sizeof(err)) != 0) {
        fprintf(stderr, "annuaire keys generate: %s\n", err);
        rc = CMD_EXIT_FAILURE;
    } else {
        printf("signing key %s written to %s\n", DIR_SIGNING_KEY_ID, cfg->keys.signing_key_file);
    }
    cfg_free(cfg);
    return rc;
}
