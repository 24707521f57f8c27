/*
 * annuaire routing check (-c FILE | --file INFO_YAML) ADDRESS...: loads the routing file as
 * serve would and prints, for each address, the homeserver it maps to and the entry or pattern
 * (file:line) that decided. Exits 1 when the file does not load.
 */
#include "routing/routing.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"

static const char usage[] =
    "usage: annuaire routing check (-c FILE | --file INFO_YAML) ADDRESS...\n\n"
    "Loads the routing file (routing.info_file of the configuration, or the file\n"
    "given) as the service would, and prints for each address the homeserver it\n"
    "maps to and the entry or pattern that decided, with its line. Exits 1 when\n"
    "the file does not load (the error names the line).\n\n"
    "  -c, --config FILE   configuration file (YAML)\n"
    "  -f, --file FILE     a routing file in Tchap's info.yaml format\n"
    "  -h, --help          this help\n";

static void
print_decision(const struct routing_map *r, const char *path, const char *address)
{
    struct routing_result route;
    bool is_email;
    char *key = routing_key(address, &is_email);

    printf("%s%s: ", key, is_email ? "" : " (not an e-mail address: matched as typed)");
    if (!routing_match(r, key, &route)) {
        printf("no entry or pattern matches (/info answers {}; cannot enroll)\n");
    } else {
        printf("hs=%s%s%s requires_invite=%s, %s platform%s; %s '%s' (%s:%ld)\n", route.hs,
               route.shadow_hs ? " shadow_hs=" : "", route.shadow_hs ? route.shadow_hs : "",
               route.requires_invite ? "true" : "false", route.external ? "externals'" : "agents'",
               route.annuaire_required ? ", annuaire agents only" : "",
               route.exact ? "entry" : "pattern", route.rule, path, route.line);
    }
    free(key);
}

int
cmd_routing(int argc, char **argv)
{
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' },
        { "file", required_argument, NULL, 'f' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *config = NULL, *file = NULL;
    struct routing_map *r;
    struct cfg *cfg = NULL;
    char err[512];
    int c;

    if (argc < 2 || strcmp(argv[1], "check") != 0) {
        if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
            fputs(usage, stdout);
            return CMD_EXIT_OK;
        }
        fprintf(stderr, "annuaire routing: expected 'check' (see annuaire routing --help)\n");
        return CMD_EXIT_USAGE;
    }
    argc--;
    argv++;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":c:f:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 'f':
            file = optarg;
            break;
        case 'h':
            fputs(usage, stdout);
            return CMD_EXIT_OK;
        case ':':
            fprintf(stderr, "annuaire routing check: option '%s' needs an argument\n",
                    argv[optind - 1]);
            return CMD_EXIT_USAGE;
        default:
            fprintf(stderr, "annuaire routing check: unknown option '%s'\n", argv[optind - 1]);
            return CMD_EXIT_USAGE;
        }
    }
    if ((config == NULL) == (file == NULL) || optind >= argc) {
        fprintf(stderr, "annuaire routing check: give -c FILE or --file FILE, and addresses "
                        "(see annuaire routing --help)\n");
        return CMD_EXIT_USAGE;
    }
    if (config != NULL) {
        cfg = cmd_load_config("routing check", config);
        if (cfg == NULL) {
            return CMD_EXIT_FAILURE;
        }
        if (cfg->routing.info_file == NULL) {
            fprintf(stderr, "annuaire routing check: %s sets no routing.info_file\n", config);
            cfg_free(cfg);
            return CMD_EXIT_FAILURE;
        }
        file = cfg->routing.info_file;
    }
    r = routing_load(file, cfg ? &cfg->routing : NULL, err, sizeof(err));
    if (r == NULL) {
        fprintf(stderr, "annuaire routing check: %s\n", err);
        cfg_free(cfg);
        return CMD_EXIT_FAILURE;
    }
    for (int i = optind; i < argc; i++) {
        print_decision(r, file, argv[i]);
    }
    routing_release(r);
    cfg_free(cfg);
    return CMD_EXIT_OK;
}
