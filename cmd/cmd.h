/* Subcommands of the annuaire binary. Only cmd/ sees every module. */
#ifndef ANN_CMD_CMD_H
#define ANN_CMD_CMD_H

#include "core/cfg.h"
#include "core/db.h"

/* Exit codes shared by every subcommand. */
#define CMD_EXIT_OK      0
#define CMD_EXIT_FAILURE 1 /* the command ran and failed (config, database, ...) */
#define CMD_EXIT_USAGE   2 /* bad command line */

int cmd_serve(int argc, char **argv);
int cmd_migrate(int argc, char **argv);
int cmd_check_config(int argc, char **argv);
int cmd_keys(int argc, char **argv);
int cmd_pepper(int argc, char **argv);
int cmd_sync(int argc, char **argv);
int cmd_routing(int argc, char **argv);
int cmd_admin(int argc, char **argv);
int cmd_invite(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_leavers(int argc, char **argv);
int cmd_search(int argc, char **argv);

/**
 * Parses the options every subcommand shares (-c FILE, --help).
 *
 * @param name         the subcommand as the user typed it, for messages
 *
 * @param usage        text printed for --help
 * @param[out] config  the -c argument (borrowed from argv)
 * @return -1 to go on, otherwise the exit code to return at once
 */
int
cmd_parse_common(const char *name, int argc, char **argv, const char *usage, const char **config);

/** Loads the configuration or prints why not. @return the config, or NULL */
/** A usage error of command cmd on stderr: "annuaire CMD: <message> (see annuaire CMD
 *  --help)". @return CMD_EXIT_USAGE */
int cmd_usage_error(const char *cmd, const char *fmt, ...) ANN_PRINTF(2, 3);

struct cfg *cmd_load_config(const char *cmd, const char *path);

/** The files serve reads at start besides the configuration (the signing key, the mail
 *  and page templates, the routing file), checked as serve reads them; each problem
 *  printed as "annuaire CMD: FILE:LINE: KEY: why" (cmd/check_config.c).
 *  @param keep_key  leave the signing key loaded (dir_keys_load) when it is fine
 *  @return the number of problems */
int cmd_check_start_files(const char *cmd, const struct cfg *cfg, bool keep_key);

/** Checks that the schema is at least the one this binary was built for (warns when it
 *  is newer). @return 0, or -1 (printed, naming `annuaire migrate -c path`) */
int cmd_check_schema(const char *cmd, struct db_conn *c, const char *path);

#endif
