/*
 * Homeserver routing: which Matrix homeserver owns an address, read from a mapping
 * file in the format of Tchap's info.yaml (exact entries, then patterns in file order).
 * A loaded mapping is an immutable, reference-counted snapshot; the service keeps one
 * in force and reloads it when the file changes or on SIGHUP. No database: the
 * identity endpoints that combine routing with the annuaire are in directory/.
 *
 * load.c (the file, its YAML typed as PyYAML types it), tail.c (the index of patterns
 * by the literal text they end with), match.c (an address against a mapping), watch.c
 * (the mapping in force and its reloads).
 */
#ifndef ANN_ROUTING_ROUTING_H
#define ANN_ROUTING_ROUTING_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

struct routing_map; /* one loaded mapping file, immutable, reference-counted */
struct cfg_routing; /* external_servers and annuaire_servers say what platforms are */

/* What an address maps to. Strings are borrowed from the mapping. */
struct routing_result {
    const json_t *entry;   /* the file's entry: hs, shadow_hs, requires_invite, extra keys */
    const char *hs;        /* the homeserver */
    const char *shadow_hs; /* its Internet-facing twin, or NULL */
    bool requires_invite;
    bool external;          /* an externals' platform (else an agents' one) */
    bool annuaire_required; /* only addresses known to the annuaire enroll there */
    bool exact;             /* matched an exact entry (else a pattern) */
    const char *rule;       /* that address, or the pattern */
    long line;              /* of the file */
};

/* --- load.c: a mapping file ---------------------------------------------------- */

/**
 * Reads a mapping file in Tchap's info.yaml format; conf (may be NULL: empty lists)
 * says which servers are the externals' and which take agents of the annuaire only.
 * conf is read during the call only.
 * @return the mapping (one reference, owned by the caller: release with
 *         routing_release), or NULL with "file:line: why" in err
 */
struct routing_map *
routing_load(const char *path, const struct cfg_routing *conf, char *err, size_t err_size);

/** Drops a reference (the last one frees). Takes NULL. */
void routing_release(struct routing_map *m);

/**
 * The size of a mapping.
 * @param[out] n_exact  its exact entries
 * @return its patterns
 */
size_t routing_size(const struct routing_map *m, size_t *n_exact);

/* --- match.c: an address against a mapping -------------------------------------- */

/**
 * An address as routing matches it: its canonical form (addr_email_normalise: lower
 * case, the domain in A-label form), the form it is stored and keyed by.
 * @param[out] out  the canonical form, owned by the caller (set only on success)
 * @return 0, or -1 when it is not an acceptable e-mail address
 */
int routing_normalise(const char *address, char **out);

/**
 * What an address is matched as: normalised when it is an e-mail address, else as
 * typed, ASCII lower-cased.
 * @param[out] is_email  whether it was normalised as an e-mail address
 * @return the key, owned by the caller
 */
char *routing_key(const char *address, bool *is_email);

/** Whether server (any case) is the hs or shadow_hs of some entry or pattern of m
 *  (false when m is NULL). */
bool routing_has_server(const struct routing_map *m, const char *server);

/**
 * Whether server (any case) is on an externals' platform, by the rule that makes an
 * address's entry external: it is in routing.external_servers, or, when that list is
 * empty, it is the hs or shadow_hs of an entry or pattern that requires an invitation.
 * @return false when m or server is NULL
 */
bool routing_server_external(const struct routing_map *m, const char *server);

/**
 * Matches a normalised address (routing_key): exact entries, then patterns in file
 * order; the first that takes it decides. A pattern that cannot be tried (its match
 * limit reached) is taken as no match, and logged once for that pattern of m.
 * @param[out] out  the decision, borrowing from m (zeroed when nothing matches)
 * @return whether something matched (false when m is NULL)
 */
bool routing_match(const struct routing_map *m, const char *normalised, struct routing_result *out);

/* --- watch.c: the mapping in force ------------------------------------------------ */

/**
 * Loads the mapping of the service (conf->info_file; NULL: no routing) and watches the
 * file: a change is loaded within a second, and replaces the mapping only if it loads
 * whole. Registers the routing metrics. conf must outlive the service.
 * @return 0, or -1 with "file:line: why" in err
 */
int routing_start(const struct cfg_routing *conf, char *err, size_t err_size);

/** Loads the file again now (SIGHUP); logged, and counted, by the watcher. */
void routing_reload(void);

/** Stops the watcher and drops the mapping in force (held ones stay valid). */
void routing_stop(void);

/** The mapping in force, held until routing_release; NULL when routing is off. */
struct routing_map *routing_acquire(void);

#endif
