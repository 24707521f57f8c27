/* Matrix server names and how to reach a homeserver's federation API. */
#ifndef ANN_CORE_FEDERATION_H
#define ANN_CORE_FEDERATION_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "core/cfg.h"
#include "core/fetch.h"
#include "core/util.h"

struct fed_server {
    char host[256]; /* DNS name or IP address, without brackets */
    int port;       /* 0 when the name has none */
    bool ip_literal;
    bool ipv6;
};

/**
 * Parses a server name as the Matrix spec defines it: a DNS name, an IPv4
 * address or a bracketed IPv6 address, then optionally ":port".
 * @return 0, or -1 when name is not a valid server name
 */
int fed_parse_server_name(const char *name, struct fed_server *out) ANN_MUST_CHECK;

/** The server name of a Matrix ID ("@local:server" -> "server", borrowed), or NULL when
 *  there is none. */
const char *fed_mxid_server(const char *mxid);

/** Whether two server names name the same homeserver of a mapping: compared in any
 *  (ASCII) case, as DNS names are. NULL is no server. */
bool fed_server_name_eq(const char *a, const char *b);

/**
 * Finds the base URL of a homeserver's federation API: the configured map
 * first (trusted as written), else the spec's discovery (IP literal or
 * explicit port; else /.well-known/matrix/server delegation; else port 8448).
 *
 * @param mapped      {server name: base URL} from the configuration
 * @param[out] url    "https://host:port" without a trailing slash, owned by the caller
 * @param[out] trusted  true when the URL came from the configuration
 * @return FETCH_OK (a .well-known lookup that fails falls back to port 8448 on the
 *         name), or FETCH_UNREACHABLE when server_name is not a valid server name
 */
enum fetch_status fed_base_url(const char *server_name,
                               const json_t *mapped,
                               const struct fetch_opts *opts,
                               char **url,
                               bool *trusted) ANN_MUST_CHECK;

/**
 * Prepares a call to a homeserver's federation API: its base URL (fed_base_url)
 * and the fetch options of the account configuration (TLS checks, private
 * addresses, timeout, 64 KiB replies); a mapped homeserver may be private.
 *
 * @param[out] opts  the options to call it with
 * @param[out] base  the base URL, owned by the caller
 * @return FETCH_OK, or why not
 */
enum fetch_status fed_prepare_call(const char *server_name,
                                   const struct cfg_account *acc,
                                   struct fetch_opts *opts,
                                   char **base) ANN_MUST_CHECK;

#endif
