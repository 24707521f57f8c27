/*
 * Configuration: one YAML file, described key by key by rows (struct cfg_row):
 * core's own sections in core/cfg.c, each module's in its config.c, registered
 * with cfg_register() before cfg_load(). Every key may also be set from the
 * environment as ANNUAIRE_<SECTION>_<KEY> (upper case, dots as underscores);
 * secret keys may come from <key>_file, or ANNUAIRE_<SECTION>_<KEY>_FILE. Any other
 * ANNUAIRE_ variable is an error (see cfg_load for the few left alone).
 */
#ifndef ANN_CORE_CFG_H
#define ANN_CORE_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "core/util.h"

struct cfg_database {
    char *conninfo;       /* libpq connection string, without the password */
    char *password;       /* secret */
    long connect_timeout; /* seconds */
    long statement_timeout_ms;
    char *replica;        /* libpq connection string of a streaming replica; NULL = none */
    long replica_max_lag; /* seconds of replay lag past which reads go to the primary */
};

struct cfg_http {
    char *bind_address;
    long port;
    long threads; /* 0 = four per CPU */
    long max_body_bytes;
    long connection_limit;
    long connection_timeout;     /* seconds of idleness before a connection is closed */
    long request_timeout;        /* seconds a request's head and body may take (1..3600) */
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
    long display_user_chars;             /* characters of an invited address shown before "@..." */
    long display_domain_chars;           /* and after it */
    long validity;                       /* seconds an invitation stays pending; 0 = until used */
    long agents_may_invite_externals;    /* senders on agents' platforms invite externals */
    long externals_may_invite_externals; /* senders on externals' platforms do too */
    long daily_per_sender;               /* store-invites per sender per UTC day; 0 = no limit */
    long daily_per_homeserver;           /* and per sender's homeserver; 0 = no limit */
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

/* Most sections a configuration can have (core's and the modules' together). */
#define CFG_MAX_SECTIONS 32

/* A configuration snapshot. The sections above are stored here, read as cfg->routing...:
 * core's own, and the modules' sections of today (their rows are in directory/config.c,
 * enroll/config.c, ldap-sync/config.c). A section registered with a size of its own
 * (struct cfg_section) is stored in a block instead, read with cfg_section_get(): its
 * struct and rows are all in its module. */
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
    void *blocks[CFG_MAX_SECTIONS]; /* by registration order; NULL for sections above */
    size_t n_blocks;                /* sections registered when this one was loaded */
    size_t *key_lines;              /* by key: its line in the file (read by cfg_where) */
    unsigned char *key_from;        /* by key: default, file, environment (cfg_where) */
    json_t **key_paths;             /* by key: lines inside a list or mapping (cfg_where_in) */
};

enum cfg_type {
    CFG_STRING, /* text, length in [min, max]; owned (in a record: borrowed from it) */
    CFG_INT,    /* an integer in [min, max], stored in a long or an int (by the row's size) */
    CFG_BOOL,   /* true/yes or false/no (in a record: true or false); a long, an int or a bool */
    CFG_LEVEL,  /* a log level (error, warn, info, debug), stored in a long */
    CFG_JSON,   /* a YAML subtree, kept as JSON (scalars become strings); check says if fine */
    CFG_LIST,   /* records only: a non-empty list of texts into an array of const char *,
                 * its count (a size_t) right after it; items past its size are left out */
    CFG_TEXT_OR_LIST, /* records only: one text or such a list */
};

#define CFG_SECRET 1u /* never printed; may come from <key>_file */

/* One key: what it is, its bounds and default, and where its value goes. */
struct cfg_row {
    const char *name; /* "http.port"; in a record, its path there: "ldap.urls" */
    enum cfg_type type;
    size_t offset;   /* of the value in its storage (struct cfg, a section block, a record) */
    size_t size;     /* of the value (sizeof): CFG_INT and CFG_BOOL store by it */
    const char *def; /* default as text; NULL = unset (in a record: left as it was) */
    long min, max;   /* CFG_INT: range; text: length, of each item for lists */
    unsigned flags;  /* CFG_SECRET */
    const char *(*check)(const json_t *v); /* CFG_JSON, CFG_STRING: NULL if fine, else why */
};

/* offset and size of field f of struct type st, for a row. */
#define CFG_FIELD(st, f) offsetof(st, f), sizeof(((st *)0)->f)
/* Checks at compile time that count n follows array a in st, as a list row needs. */
#define CFG_COUNT_FOLLOWS(st, a, n) \
    _Static_assert(offsetof(st, n) == offsetof(st, a) + sizeof(((st *)0)->a), "count after list")

/* A section: "routing", its rows (each named "routing.<key>"), where they are stored. */
struct cfg_section {
    const char *name;
    const struct cfg_row *rows;
    size_t n_rows;
    size_t size; /* 0: rows' offsets are into struct cfg; else a block this large, zeroed */
    /** Checks what keys must agree on, once the file and the environment are read;
     *  may be NULL. @param[out] key the key the error names (its line is given)
     *  @return NULL, or what is wrong (static text) */
    const char *(*check)(const struct cfg *cfg, const char **key);
};

/**
 * Adds sections to the keys cfg_load() reads (core's own are always there). Call
 * at start, before any cfg_load(); a section given twice counts once.
 * @param s  n static sections; each row's name begins with its section's name and a dot
 */
void cfg_register(const struct cfg_section *s, size_t n);

/** The block of a section registered with a size (borrowed), or NULL if it was
 *  registered after cfg was loaded. */
const void *cfg_section_get(const struct cfg *cfg, const struct cfg_section *s);

/** Checks for rows: a list of non-empty texts; a mapping of names to non-empty texts; a
 *  numeric IPv4 or IPv6 address, as a listener binds it. */
const char *cfg_check_string_list(const json_t *v);
const char *cfg_check_string_map(const json_t *v);
const char *cfg_check_bind_address(const json_t *v);

/**
 * Checks one record of a CFG_JSON list (a sync source...): every key of obj, the
 * mapping at prefix ("" at the top, "ldap." for a sub-mapping), must be a row's,
 * with a value of its type and bounds; a sub-mapping (rows named "<key>.x") is only
 * checked to be a mapping, the caller checks it with its own prefix when it wants.
 * @param path  names obj in messages ("sources[0]", "sources[0].ldap")
 * @return NULL, or err filled with "<path>.<key>: unknown key" or "...: not a valid value"
 *         ("<path>: expected a mapping")
 */
const char *cfg_record_check(const struct cfg_row *rows,
                             size_t n_rows,
                             const json_t *obj,
                             const char *prefix,
                             const char *path,
                             char *err,
                             size_t err_size);

/**
 * Fills out (a struct the rows describe) from a checked record: each row's value, or
 * its default when the key is absent (under a sub-mapping only when that is given);
 * rows without a default are left as they were. Strings are borrowed from obj or the
 * rows.
 */
void cfg_record_fill(const struct cfg_row *rows, size_t n_rows, const json_t *obj, void *out);

/**
 * Reads a secret from a file, the one way every secret file is read: a regular file
 * (a FIFO or a device, which could block the load forever or never end, is refused), at
 * most max bytes, trailing line ends (CR, LF) dropped.
 * @param[out] out  NUL-terminated, owned (OPENSSL_cleanse and free it)
 * @param[out] len  its length without the NUL (a NUL byte inside shows as strlen < len)
 * @return 0, or -1 with errno set (cfg_secret_error says it)
 */
int cfg_read_secret(const char *path, size_t max, char **out, size_t *len) ANN_MUST_CHECK;

/** Why cfg_read_secret failed, from its errno: strerror, or "not a regular file". */
const char *cfg_secret_error(int err);

/** A boolean inside a CFG_JSON subtree: JSON true (from the environment) or the YAML
 *  text "true". */
bool cfg_json_true(const json_t *v);

/** Size of the error buffer cfg_load() fills. */
#define CFG_ERR_SIZE 512

/**
 * Loads a configuration file, applies defaults then environment overrides.
 * Environment variables named ANNUAIRE_... must each be a key's (ANNUAIRE_<KEY>, or
 * ANNUAIRE_<KEY>_FILE for a secret), or be named by a key ending in _env (a source's
 * ldap.bind_password_env); ANNUAIRE_BIN, ANNUAIRE_SOURCE_DIR, ANNUAIRE_IT_* and
 * ANNUAIRE_TEST_* (the build's and the tests') are left alone.
 *
 * @param path      YAML file to read
 * @param[out] out  the configuration on success, owned by the caller (cfg_free)
 * @param[out] err  on failure, the first problem: one line naming the file, line and key
 *                  (or the environment variable)
 * @return 0 or -1
 */
int cfg_load(const char *path, struct cfg **out, char err[CFG_ERR_SIZE]) ANN_MUST_CHECK;

/* Told each problem a load finds, one line (no line end). */
typedef void (*cfg_report_fn)(void *arg, const char *problem);

/**
 * cfg_load, going on past a problem: every key of the file and the environment is
 * read, each problem given to report (at most 50, then one line saying more were
 * found); the sections' checks run when every key is fine.
 * @return 0 (*out set), or the number of problems (*out NULL)
 */
int
cfg_load_each(const char *path, struct cfg **out, cfg_report_fn report, void *arg) ANN_MUST_CHECK;

/**
 * Where a key's value came from, to prefix a message about it: "FILE:LINE: KEY" (set
 * in the file), "environment ANNUAIRE_KEY (KEY)" (or ANNUAIRE_KEY_FILE), "FILE: KEY"
 * (its default).
 */
void cfg_where(const struct cfg *cfg, const char *key, char *out, size_t size);

/**
 * cfg_where for a part of a key's list or mapping, named as the key's checks name it
 * ("sources[1].ldif" for sync.sources, or "[1].ldif"): the line of that item or key in
 * the file (of the deepest part of the path found there), else as cfg_where.
 */
void cfg_where_in(const struct cfg *cfg, const char *key, const char *path, char *out, size_t size);

/** Frees a configuration; secrets are wiped. Takes NULL. */
void cfg_free(struct cfg *cfg);

/** Makes cfg the process-wide snapshot returned by cfg_get(); steals it. */
void cfg_install(struct cfg *cfg);

/** The installed snapshot (borrowed), or NULL before cfg_install(). */
const struct cfg *cfg_get(void);

/** Frees the installed snapshot at exit. */
void cfg_uninstall(void);

/** Writes every key and its effective value, secrets masked, one per line, section by
 *  section in alphabetical order. */
void cfg_dump(const struct cfg *cfg, FILE *out);

/** Number of keys of every registered section, and the name of key i (for documentation
 *  checks). */
size_t cfg_key_count(void);
const char *cfg_key_name(size_t i);

#endif
