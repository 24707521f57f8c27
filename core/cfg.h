/*
 * Configuration: one YAML file, described key by key by the table in cfg.c.
 * Every key may also be set from the environment as ANNUAIRE_<SECTION>_<KEY>
 * (upper case, dots as underscores); secret keys may come from <key>_file.
 */
#ifndef ANN_CORE_CFG_H
#define ANN_CORE_CFG_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "core/util.h"

struct cfg_database {
    char *conninfo;       /* libpq connection string, without the password */
    char *password;       /* secret */
    long connect_timeout; /* seconds */
    long statement_timeout_ms;
};

struct cfg_http {
    char *bind_address;
    long port;
    long threads; /* 0 = four per CPU */
    long max_body_bytes;
    long connection_limit;
    long connection_timeout;     /* seconds of idleness before a connection is closed */
    long request_timeout;        /* seconds a request's head and body may take; 0 = no limit */
    long max_connections_per_ip; /* 0 = no limit */
    long public_metrics;         /* /metrics on the public listener too */
    long shutdown_timeout;       /* seconds in-flight requests get on SIGTERM */
    char *cors_origin;
    json_t *trusted_proxies; /* CIDRs whose X-Forwarded-For is believed */
};

struct cfg_log {
    long level; /* enum log_level */
};

struct cfg_ratelimit {
    long enabled;
    long request_token_address_burst, request_token_address_interval_ms;
    long request_token_user_burst, request_token_user_interval_ms;
    long request_token_ip_burst, request_token_ip_interval_ms;
    long lookup_user_burst, lookup_user_interval_ms;
    long lookup_ip_burst, lookup_ip_interval_ms;
    long register_ip_burst, register_ip_interval_ms;
    long unbind_ip_burst, unbind_ip_interval_ms;
};

struct cfg_server {
    char *name;            /* the identity server's name: signs associations */
    char *public_base_url; /* how clients reach us: links in mails, key_validity_url */
};

struct cfg_keys {
    char *signing_key_file;
};

struct cfg_sync {
    long max_delete_percent; /* a run removing more of a source is refused */
    long purge_after_days;   /* soft-deleted entries are dropped after this */
    long grace_runs;         /* an absent entry is removed once absent this many runs more */
    long grace_seconds;      /* ... and this long after it first went missing */
    json_t *sources;         /* checked list, read by ldap-sync */
};

struct cfg_terms {
    json_t *policies; /* {id: {"version": v, <lang>: {"name", "url"}}}, checked */
};

struct cfg_account {
    json_t *homeservers;         /* {server name: base URL} for private deployments */
    json_t *allowed_homeservers; /* [server name, ...]; empty = any */
    long allow_private_addresses;
    long tls_verify;
    long request_timeout;      /* seconds */
    long max_concurrent_calls; /* calls to homeservers HTTP threads wait on; 0 = a quarter */
};

struct cfg_invites {
    long display_user_chars;   /* characters of an invited address shown before "@..." */
    long display_domain_chars; /* and after it */
    long validity;             /* seconds an invitation stays pending; 0 = until used */
};

struct cfg_legacy {
    json_t *homeservers; /* {server name: [CIDR, ...]} allowed on v1 store-invite and bind */
};

struct cfg_routing {
    char *info_file;             /* Tchap's info.yaml format; NULL = no routing */
    json_t *nonshadow;           /* CIDRs of clients given the protected servers */
    json_t *external_servers;    /* homeservers of the externals' platforms */
    json_t *annuaire_servers;    /* platforms where only agents of the annuaire enroll */
    long enrollment_gate;        /* refuse requestToken for addresses that cannot enroll */
    long reveal_requires_invite; /* /info shows requires_invite */
    char *internal_bind_address; /* the internal listener (internal-info) */
    long internal_port;          /* 0 = no internal listener */
    long internal_threads;       /* 0 = two per CPU */
    char *internal_secret;       /* secret; when set, required as a bearer token */
};

struct cfg_lookup {
    long max_addresses;
    long allow_plain; /* offer the "none" algorithm */
};

struct cfg_mail {
    char *from; /* "Name <address>" */
    char *smtp_host;
    long smtp_port;
    char *smtp_security; /* none, starttls, tls */
    char *smtp_username;
    char *smtp_password; /* secret */
    long smtp_timeout;
    long tls_verify;
    long retry_initial_delay; /* seconds; doubles on each failure, capped at one hour */
    char *templates_dir;
    char *brand;
};

struct cfg_validation {
    long session_lifetime; /* seconds from the last change of a session */
    long max_token_tries;
    json_t *next_link_domains; /* hosts a next_link may point to; [] = any http(s) URL */
};

struct cfg {
    char *path;
    struct cfg_account account;
    struct cfg_database database;
    struct cfg_http http;
    struct cfg_invites invites;
    struct cfg_keys keys;
    struct cfg_legacy legacy;
    struct cfg_log log;
    struct cfg_lookup lookup;
    struct cfg_mail mail;
    struct cfg_ratelimit ratelimit;
    struct cfg_routing routing;
    struct cfg_server server;
    struct cfg_sync sync;
    struct cfg_terms terms;
    struct cfg_validation validation;
};

/** A boolean inside a CFG_JSON subtree: JSON true (from the environment) or the YAML
 *  text "true". */
bool cfg_json_true(const json_t *v);

/** Size of the error buffer cfg_load() fills. */
#define CFG_ERR_SIZE 512

/**
 * Loads a configuration file, applies defaults then environment overrides.
 *
 * @param path      YAML file to read
 * @param[out] out  the configuration on success, owned by the caller (cfg_free)
 * @param[out] err  on failure, one line naming the file, line and key
 * @return 0 or -1
 */
int cfg_load(const char *path, struct cfg **out, char err[CFG_ERR_SIZE]) ANN_MUST_CHECK;

/** Frees a configuration; secrets are wiped. Takes NULL. */
void cfg_free(struct cfg *cfg);

/** Makes cfg the process-wide snapshot returned by cfg_get(); steals it. */
void cfg_install(struct cfg *cfg);

/** The installed snapshot (borrowed), or NULL before cfg_install(). */
const struct cfg *cfg_get(void);

/** Frees the installed snapshot at exit. */
void cfg_uninstall(void);

/** Writes every key and its effective value, secrets masked, one per line. */
void cfg_dump(const struct cfg *cfg, FILE *out);

/** Number of keys in the table, and the name of key i (for documentation checks). */
size_t cfg_key_count(void);
const char *cfg_key_name(size_t i);

#endif
