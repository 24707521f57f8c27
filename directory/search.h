/*
 * Directory search and identification: one search over the annuaire (the folded words
 * that ldap-sync gives every entry, sql/019_search.sql), behind three ways in:
 * POST /_annuaire/v1/directory/search, the client-server API's user_directory/search
 * (a reverse proxy sends it here), and the identity server's v1 user_directory/search
 * that Tchap's homeservers defer to.
 */
#ifndef ANN_DIRECTORY_SEARCH_H
#define ANN_DIRECTORY_SEARCH_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "core/cfg.h"
#include "core/http.h"

struct db_conn;
struct routing_map;

/** Longest term accepted, in bytes; query words kept (the rest are ignored). */
#define DIR_SEARCH_MAX_TERM   256
#define DIR_SEARCH_MAX_WORDS  8
/** Longest cursor (`next`) dir_search writes, in characters, rounded up: its position
 *  may carry an entity name of up to 1024 bytes, the longest the sync keeps. */
#define DIR_SEARCH_MAX_CURSOR 2048
/** Longest folded word indexed or searched for, in bytes. */
#define DIR_SEARCH_MAX_WORD   64

/* The search section (search.*), stored in a block of its own. */
struct dir_search_config {
    long min_term;            /* search.min_term: shortest term, in folded characters */
    bool return_email;        /* search.return_email: results carry the address */
    bool include_externals;   /* search.include_externals: externals in agent searches */
    long per_token_per_hour;  /* search.per_token_per_hour */
    long per_server_per_hour; /* search.per_homeserver_per_hour (delegated paths) */
    long per_ip_per_hour;     /* search.per_ip_per_hour */
    json_t *client_hosts;     /* search.client_hosts: {Host: homeserver client-API URL} */
    json_t *delegating_hs;    /* search.delegating_homeservers: [server name, ...] */
};
extern const struct cfg_section dir_search_config_sections[];
extern const size_t dir_search_config_n_sections;
/** The search section of cfg (defaults when absent). */
struct dir_search_config dir_search_config(const struct cfg *cfg);

/* A search. Strings are borrowed for the call. */
struct dir_search_query {
    const char *term;     /* as the caller gave it (UTF-8) */
    int limit;            /* 1 .. 100 */
    const char *ministry; /* a ministry label (sync_sources.ministry), or NULL */
    const char *domain;   /* a mail domain, or NULL */
    const char *entity;   /* an entity, exactly as the annuaire has it, or NULL */
    const char *after;    /* the opaque cursor of a previous page (its `next`), or NULL */
    long min_term;        /* search.min_term: fewer folded characters is DIR_SEARCH_SHORT */
};

/* One entry found (owned by the result). */
struct dir_search_hit {
    char *display_name;
    char *entity;   /* or NULL */
    char *ministry; /* the label of its source */
    char *address;  /* its first address; callers return it only when search.return_email */
    char *mxid;     /* the Matrix ID bound to one of its addresses, or NULL */
    bool external;  /* its address routes to an external platform */
};

struct dir_search_result {
    struct dir_search_hit *hits;
    size_t n;
    char *next; /* the cursor of the next page, or NULL when there is none */
};

enum dir_search_status {
    DIR_SEARCH_OK = 0,
    DIR_SEARCH_SHORT,      /* fewer folded characters than search.min_term */
    DIR_SEARCH_BAD_CURSOR, /* after is not a cursor of this same search */
    DIR_SEARCH_BAD_PARAM,  /* limit out of range, term too long */
    DIR_SEARCH_DB,         /* the database failed */
};

/**
 * Searches the annuaire: every query word matches a word of a visible entry (not hidden,
 * disabled or removed), ranked exact name > exact word > word prefix > inside a word >
 * one typo, then by a stable key. Externals (their address routes to an external
 * platform under routes) are left out unless include_externals; a page may then hold
 * fewer than limit hits and still have a next one.
 */
enum dir_search_status dir_search(struct db_conn *c,
                                  const struct routing_map *routes,
                                  bool include_externals,
                                  const struct dir_search_query *q,
                                  struct dir_search_result *out);
void dir_search_result_clear(struct dir_search_result *res);

/**
 * The visible entry that owns address (normalised), or that holds the address mxid is
 * bound to (exactly one of them non-NULL), for identification.
 * @return 1 found (out filled), 0 not found (hidden, disabled and removed alike), or < 0
 */
int dir_identify(struct db_conn *c,
                 const struct routing_map *routes,
                 const char *address,
                 const char *mxid,
                 struct dir_search_hit *out);
void dir_search_hit_clear(struct dir_search_hit *h);

/**
 * The search quotas (search.per_*_per_hour). kind "token": per client IP, then per key
 * (an access token's user); "ip" and "user": each half alone, for a path that checks
 * the IP before it calls a homeserver to learn the user; "server": per key alone (a
 * homeserver on the signed path, whose own addresses carry all its users' searches).
 * Replies 429 M_LIMIT_EXCEEDED with retry_after_ms when refused.
 */
enum reply_status dir_limit_search(struct http_req *r, const char *kind, const char *key);

#endif
