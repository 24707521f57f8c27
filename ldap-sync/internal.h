/* Private to ldap-sync/. */
#ifndef ANN_LDAP_SYNC_INTERNAL_H
#define ANN_LDAP_SYNC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>
#include <lber.h>

#include "core/util.h"
#include "ldap-sync/ldap_sync.h"

#define LSYNC_MAX_MAIL_ATTRS   8
#define LSYNC_MAX_ENTITY_ATTRS 4
#define LSYNC_MAX_BASES        16
#define LSYNC_MAX_URLS         8

enum lsync_key {
    LSYNC_KEY_ENTRYUUID,
    LSYNC_KEY_OBJECTGUID,
    LSYNC_KEY_DN,
    LSYNC_KEY_OTHER, /* any single-valued attribute, taken as text */
};

/* Which directory attribute feeds which annuaire field. Each count follows its array
 * (config.c reads lists into them). */
struct lsync_attrs {
    enum lsync_key key_kind;
    const char *key; /* the attribute, when key_kind is LSYNC_KEY_OTHER */
    const char *mail[LSYNC_MAX_MAIL_ATTRS];
    size_t n_mail;
    const char *display_name, *given_name, *surname, *title, *mobile;
    const char *entity[LSYNC_MAX_ENTITY_ATTRS];
    size_t n_entity;
    const char *poll;     /* change polling: the attribute that grows with each change */
    const char *hidden;   /* TRUE/true/1/yes hides the entry from directory search */
    const char *disabled; /* AD userAccountControl: bit 2 set = disabled */
};

struct lsync_ldap {
    const char *urls[LSYNC_MAX_URLS];
    size_t n_urls;
    bool starttls;
    const char *ca_file;
    const char *bind_dn;
    const char *password_file, *password_env;
    const char *bases[LSYNC_MAX_BASES];
    size_t n_bases;
    const char *scope_name; /* base, one or sub as configured; NULL: sub */
    int scope;              /* LDAP_SCOPE_* */
    const char *filter;
    int page_size;
    int connect_timeout, timeout; /* seconds */
    bool content_sync;            /* RFC 4533 incremental runs */
    const char *poll_attribute;   /* else change polling on this attribute (uSNChanged, ...) */
    int poll_overlap;             /* seconds re-read before the mark, for timestamps */
    int full_every_hours;         /* polling misses deletions: a full read this often */
};

struct lsync_source {
    const char *name;
    const char *ministry;
    int priority;
    const char *ldif;   /* path, or NULL for an LDAP source */
    const char *schema; /* inetorgperson or ad, for the attributes' defaults; NULL: inetorgperson */
    /* Removals wait: an entry absent from a complete read is missing, and removed when it
     * is still absent after grace_runs more complete reads and grace_seconds (-1: the
     * sync.removal_grace_* value). */
    int grace_runs, grace_seconds;
    /* What a complete read looks like: at least min_entries entries (0: any), and at
     * most max_shrink percent fewer than the last complete read applied (-1: no check). */
    long min_entries;
    int max_shrink;
    struct lsync_ldap ldap;
    struct lsync_attrs attrs;
};

/** Reads a source from its checked configuration (strings borrowed from it): config.c,
 *  whose rows give every source key and its default. */
void lsync_source_from_json(const json_t *j, struct lsync_source *out);

/* A directory entry as read: its DN and attribute values (borrowed from the reader). */
struct lsync_attr {
    const char *name;
    const struct berval *const *values; /* NULL-terminated */
};

/* words.c: the search words of an entry (sql/019_search.sql), from these fields
 * (borrowed). */
struct lsync_words_in {
    const char *display_name, *given_name, *surname, *entity;
    const char *const *mails; /* canonical addresses */
    size_t n_mails;
};

/* The three search columns, as COPY and a text[] parameter take them (owned). */
struct lsync_words {
    char *words;        /* search_words: a text[] literal, {"a","b"}; {} when none */
    char *entity_words; /* search_entity_words: the same */
    char *name;         /* search_name, cut to 256 bytes at a word's end; NULL when the
                           display name folds to nothing */
};

/** Computes the search columns of an entry (core/fold.h's rule): out is filled
 *  (lsync_words_clear). */
void lsync_words_compute(const struct lsync_words_in *in, struct lsync_words *out);
void lsync_words_clear(struct lsync_words *w);

/* One entry mapped to the annuaire's fields; owned strings. */
struct lsync_entry {
    char *key;
    char *dn;
    char **mails; /* normalised, de-duplicated */
    size_t n_mails;
    char *display_name, *given_name, *surname, *entity, *title, *mobile, *mobile_e164;
    bool hidden, disabled;
    struct lsync_words words; /* its search columns, computed by lsync_map */
};
void lsync_entry_clear(struct lsync_entry *e);

/**
 * Maps an entry (known_key: the key the protocol gave, else NULL: from the
 * attributes). An entry without a stable key, with a DN or a value it uses that
 * is not UTF-8 text (or holds a NUL byte), or with a display name, given name, surname,
 * entity or title over 1024 bytes, is rejected; a value that cannot be used (a mail that
 * has no canonical form, core/address.h; a mail past the 64th of an attribute) is dropped and named
 * in dropped (may be NULL).
 * @param[out] dropped  filled with "mail 'x': why" for each value left out
 * @param[out] bad_attr on -1 for a value that is not UTF-8 or is too long: the attribute
 *                      (borrowed from map, or "dn"); else NULL. May be NULL.
 * @return 0, or -1 with the reason in why; on -1 out->key may still hold the key
 *         (lsync_entry_clear frees it)
 */
int lsync_map(const struct lsync_attrs *map,
              const char *dn,
              const char *known_key,
              const struct lsync_attr *attrs,
              size_t n_attrs,
              struct lsync_entry *out,
              json_t *dropped,
              const char **bad_attr,
              char *why,
              size_t why_size);

/** Whether len bytes at s are UTF-8 (without NUL bytes), as PostgreSQL wants text. */
bool lsync_utf8(const char *s, size_t len);

/** s as printable UTF-8 text: bytes that are not UTF-8 as \xNN, at most 200 bytes of s.
 *  @return owned */
char *lsync_printable(const char *s);

/* What readers hand each entry to, and a way to stop. */
struct lsync_sink {
    /** An entry, whole. key: its stable key when the reader knows it (content sync), else
     *  NULL. @return 0 to go on, -1 to stop the read (an error is already recorded) */
    int (*entry)(void *ctx,
                 const char *dn,
                 const char *key,
                 const struct lsync_attr *attrs,
                 size_t n);
    /** A key the server says is present ('p', unchanged) or deleted ('d'). @return 0 or -1 */
    int (*key)(void *ctx, char state, const char *key);
    void *ctx;
    /** LDIF: a record the file ends inside (no blank line follows it): the export was
     *  cut. dn NULL when no whole line of it could be read (or when the file ends inside
     *  a line between records), else attrs are the lines before its last logical line.
     *  line: where it starts. @return 0 or -1 */
    int (*partial)(void *ctx,
                   const char *dn,
                   unsigned long line,
                   const struct lsync_attr *attrs,
                   size_t n);
    /** Set by the reader during entry() and partial(): attributes of the record past
     *  the reader's limit (256); attrs still holds them all. Such a record is rejected. */
    size_t attrs_over;
};

/** Reads an LDIF file: each entry to sink->entry, a record the file ends inside to
 *  sink->partial. A URL value ("attr:< ...") or an include: line, a record that is not an
 *  entry, a NUL byte, a stray carriage return or UTF-16 refuse the whole file (file:line);
 *  a UTF-8 byte-order mark is skipped. @return 0 when every record was read, else -1
 *  with err set */
int lsync_read_ldif(const char *path, struct lsync_sink *sink, char *err, size_t err_size);

/** Reads an LDAP directory, every base DN, paged; extra_filter (may be NULL) is ANDed
 *  with the source's filter. @return 0 on a complete read, else -1 */
int lsync_read_ldap(const struct lsync_ldap *conf,
                    const char *extra_filter,
                    const struct lsync_attrs *map,
                    struct lsync_sink *sink,
                    char *err,
                    size_t err_size);

/** "(attr>=mark)" with mark escaped for a filter. @return owned, or NULL */
char *lsync_poll_filter(const char *attr, const char *mark);

/**
 * RFC 4533 content synchronisation, refreshOnly: from cookie (NULL: everything), the
 * entries added or changed, and the keys present or deleted.
 * @param[out] new_cookie    the cookie to store with the result (owned, may be NULL)
 * @param[out] delete_mode   the server listed deletions (else absent keys are gone)
 * @return 0 on a complete refresh, LSYNC_REFRESH_REQUIRED when the server cannot go on
 *         from that cookie (e-syncRefreshRequired: read again without one), else -1;
 *         err set unless 0
 */
#define LSYNC_REFRESH_REQUIRED (-2)
int lsync_read_ldap_sync(const struct lsync_ldap *conf,
                         const struct lsync_attrs *map,
                         const char *cookie,
                         struct lsync_sink *sink,
                         char **new_cookie,
                         bool *delete_mode,
                         char *err,
                         size_t err_size);

/* ops.c: the run lock of a source (a session advisory lock, ldap-sync/store.c). */
struct db_conn;
/** Takes the run lock of source without waiting. @return 0 taken; 1 another run holds
 *  it, -1 a database error: both said on err ("source x: ...") */
int lsync_lock_take(struct db_conn *db, const char *source, FILE *err);
/** Releases it (a failure is logged: the lock goes with the connection). */
void lsync_lock_release(struct db_conn *db, const char *source);

/* reconcile.c: one source run inside one transaction on the command's connection. */
struct lsync_counts {
    long long added, changed, removed, unchanged, rejected, conflicts, live_before;
    long long missing; /* absent from the read, still live: pending removal */
    long long marked;  /* ... of which missing from this run on */
    long long dropped; /* entries taken with values left out (invalid, or past a limit) */
    long long read;    /* entries a complete read found (-1: not a complete read) */
};

struct db_conn;
struct lsync_stage;
/**
 * Under the source's run lock: whether its run may go on. A source sync --retire retired
 * is refused (said on err, recorded but on a dry run) unless opts->unretire.
 * @return LSYNC_SUCCESS (go on), LSYNC_REFUSED or LSYNC_FAILED
 */
enum lsync_outcome lsync_check_retired(struct db_conn *db,
                                       const char *source,
                                       const struct lsync_options *opts,
                                       FILE *err);
/** In the run's transaction (sync --unretire): clears the source's retired_at, with a
 *  sync.unretire audit entry when it was retired. @return 0 or -1 */
int lsync_unretire(struct db_conn *db, const char *source, const struct lsync_options *opts);

/** Opens the transaction, the source's lock and the COPY: into the staging table, or
 *  straight into directory_entries when direct_ok and the source has no entries yet;
 *  with opts->unretire, the source is no longer retired (lsync_unretire) in it.
 *  NULL on error (err set). */
struct lsync_stage *lsync_stage_begin(struct db_conn *db,
                                      const struct lsync_source *src,
                                      long purge_after_days,
                                      bool direct_ok,
                                      const struct lsync_options *opts,
                                      char *err,
                                      size_t err_size);
/** The entries read by the last complete read applied, or -1 when none is known. */
long long lsync_stage_last_read(const struct lsync_stage *st);
/** The source's live entries after the last run applied. */
long long lsync_stage_entries(const struct lsync_stage *st);
/** Streams one mapped entry into the staging table. @return 0 or -1 (err set) */
int
lsync_stage_put(struct lsync_stage *st, const struct lsync_entry *e, char *err, size_t err_size);
/** Streams a key that is present (state 'p', unchanged) or deleted ('d'). A present key
 *  means nothing to a source with no entries yet. @return 0 or -1 */
int lsync_stage_put_key(struct lsync_stage *st,
                        char state,
                        const char *key,
                        char *err,
                        size_t err_size);
/** The content-sync cookie stored with the source's data (borrowed), or NULL. */
const char *lsync_stage_cookie(const struct lsync_stage *st);
/** Whether a direct COPY failed on a key met twice (read again with direct_ok false). */
bool lsync_stage_duplicate(const struct lsync_stage *st);
/** Whether the last full read is older than ldap.full_every_hours. */
bool lsync_stage_full_due(const struct lsync_stage *st);
/** The server listed its deletions: keys it did not mention are unchanged, not removed. */
void lsync_stage_set_delete_mode(struct lsync_stage *st, bool delete_mode);
/** Ends the COPY and counts what applying would do; entries absent from a complete
 *  read become missing, and are removed once past the grace (grace_runs, grace_seconds).
 *  @return 0 or -1 */
int lsync_stage_count(struct lsync_stage *st,
                      struct lsync_counts *c,
                      int grace_runs,
                      int grace_seconds,
                      char *err,
                      size_t err_size);
/** Applies, lists the conflicts, stores new_cookie (may be NULL), records
 *  the run with its sync.run audit entry (actor_kind, actor: NULL for the system) and
 *  commits. @return 0 or -1 */
int lsync_stage_apply(struct lsync_stage *st,
                      struct lsync_counts *c,
                      const char *new_cookie,
                      const char *mode,
                      const char *status,
                      const char *actor_kind,
                      const char *actor,
                      json_t *report,
                      char *err,
                      size_t err_size);
/** Rolls back (dry run, refusal, failure) and frees. Takes NULL. */
void lsync_stage_abort(struct lsync_stage *st);

#endif
