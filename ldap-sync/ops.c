/*
 * What `annuaire sync` does besides a run: the run lock of a source (one run of a
 * source at a time, whichever machine starts it), --retire (a source taken out of the
 * configuration), --conflicts (the addresses more than one live entry claims), and the
 * checks made before connecting (the source asked for, the LDIF files).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/audit.h"
#include "core/util.h"
#include "ldap-sync/internal.h"
#include "ldap-sync/ldap_sync.h"
#include "ldap-sync/store.h"

int
lsync_lock_take(struct db_conn *db, const char *source, FILE *err)
{
    char holder[256];
    bool locked = false;

    if (lsync_store_lock(db, source, &locked) < 0) {
        fprintf(err, "source %s: failed, nothing changed: database: %s\n", source,
                db_conn_error(db));
        return -1;
    }
    if (locked) {
        return 0;
    }
    /* The holder may have ended meanwhile: then nothing to say of it. */
    if (lsync_store_lock_holder(db, source, holder, sizeof(holder)) < 0) {
        holder[0] = '\0';
    }
    if (lsync_store_busy(db, source) < 0) {
        fprintf(err, "source %s: the busy run could not be counted: database: %s\n", source,
                db_conn_error(db));
    }
    fprintf(err,
            "source %s: another run is in progress%s%s%s: not run (exit %d; run it again "
            "once that one is over)\n",
            source, holder[0] ? " (" : "", holder, holder[0] ? ")" : "", LSYNC_BUSY);
    return 1;
}

void
lsync_lock_release(struct db_conn *db, const char *source)
{
    if (lsync_store_unlock(db, source) < 0) {
        fprintf(stderr,
                "source %s: the run lock could not be released (it goes with the "
                "connection): database: %s\n",
                source, db_conn_error(db));
    }
}

enum lsync_outcome
lsync_check_retired(struct db_conn *db,
                    const char *source,
                    const struct lsync_options *opts,
                    FILE *err)
{
    char when[64];
    char why[512];
    enum db_status st = lsync_store_retired(db, source, when, sizeof(when));

    if (st < 0) {
        fprintf(err, "%s: failed, nothing changed: database: %s\n", source, db_conn_error(db));
        return LSYNC_FAILED;
    }
    if (st == DB_NO_ROWS || opts->unretire) {
        return LSYNC_SUCCESS;
    }
    /* A machine with an old configuration must not undo the retire. */
    snprintf(why, sizeof(why),
             "source %s was retired at %s (annuaire sync --retire): refused; to bring it back: "
             "annuaire sync --source %s --unretire",
             source, when, source);
    if (!opts->dry_run) {
        const struct lsync_store_run run = {
            .source = source,
            .mode = "retired",
            .status = "refused",
            .error = why,
            .read = -1,
            .actor_kind = opts->actor_kind,
            .actor = opts->actor,
        };

        if (lsync_store_run_insert(db, &run) < 0) {
            fprintf(err, "source %s: the refusal could not be recorded: database: %s\n", source,
                    db_conn_error(db));
        }
    }
    fprintf(err, "%s: %s\n", source, why);
    return LSYNC_REFUSED;
}

int
lsync_unretire(struct db_conn *db, const char *source, const struct lsync_options *opts)
{
    enum db_status st = lsync_store_unretire(db, source);
    json_t *details;
    struct audit_entry a = {
        .actor_kind = opts->actor_kind != NULL ? opts->actor_kind : AUDIT_SYSTEM,
        .actor = opts->actor != NULL ? opts->actor : "system",
        .action = "sync.unretire",
        .object_kind = "sync_source",
        .object_id = source,
        .outcome = AUDIT_OK,
    };

    if (st <= 0) {
        return st < 0 ? -1 : 0; /* not retired: nothing to record */
    }
    details = json_pack("{s:b}", "dry_run", opts->dry_run);
    a.details = details;
    st = audit_record(db, &a);
    json_decref(details);
    return st < 0 ? -1 : 0;
}

/* The configured source named name, into out. @return whether there is one */
static bool
configured(const struct cfg *cfg, const char *name, struct lsync_source *out)
{
    size_t i;
    json_t *j;

    json_array_foreach (cfg->sync.sources, i, j) {
        lsync_source_from_json(j, out);
        if (strcmp(out->name, name) == 0) {
            return true;
        }
    }
    return false;
}

int
lsync_check_source(const struct cfg *cfg, const char *source, FILE *err)
{
    struct lsync_source src;
    struct util_buf names = { 0 };
    size_t i;
    json_t *j;

    if (json_array_size(cfg->sync.sources) == 0) {
        if (err != NULL) {
            fprintf(err, "annuaire sync: no source in sync.sources\n");
        }
        return -1;
    }
    if (source == NULL || configured(cfg, source, &src)) {
        return 0;
    }
    if (err != NULL) {
        char *shown = lsync_printable(source);

        json_array_foreach (cfg->sync.sources, i, j) {
            lsync_source_from_json(j, &src);
            util_buf_puts(&names, i > 0 ? ", " : "");
            util_buf_puts(&names, src.name);
        }
        util_buf_put(&names, "", 1);
        fprintf(err, "annuaire sync: no source named '%s' in sync.sources (configured: %s)\n",
                shown, names.p);
        free(shown);
        free(names.p);
    }
    return -1;
}

int
lsync_check_files(const struct cfg *cfg,
                  const char *source,
                  const char *prefix,
                  const char *config_path,
                  FILE *err)
{
    int bad = 0;
    size_t i;
    json_t *j;

    json_array_foreach (cfg->sync.sources, i, j) {
        struct lsync_source src;
        struct stat sb;
        const char *why = NULL;

        lsync_source_from_json(j, &src);
        if (src.ldif == NULL || (source != NULL && strcmp(source, src.name) != 0)) {
            continue;
        }
        /* access() rather than open(): a FIFO would block the check. */
        if (stat(src.ldif, &sb) != 0 || access(src.ldif, R_OK) != 0) {
            why = strerror(errno);
        } else if (S_ISDIR(sb.st_mode)) {
            why = "is a directory, not an LDIF file";
        }
        if (why != NULL) {
            char item[64];
            char where[512];

            snprintf(item, sizeof(item), "sources[%zu].ldif", i);
            cfg_where_in(cfg, "sync.sources", item, where, sizeof(where));
            fprintf(err, "%s: %s: %s: source '%s': cannot read %s: %s\n", prefix, where, item,
                    src.name, src.ldif, why);
            bad++;
        }
    }
    return bad;
}

/* Says what retiring does or would do. */
static void
print_retire(FILE *out,
             const char *name,
             bool dry_run,
             const struct lsync_store_retire_preview *p,
             long long removed)
{
    fprintf(out,
            "source %s: %s %lld live entr%s (soft delete: purged after sync.purge_after_days), "
            "%lld address%s, %lld bound to a Matrix ID; %lld address%s no other live entry "
            "holds (leavers, %lld of them bound); %lld conflict%s ended\n",
            name, dry_run ? "retiring would soft-delete" : "retired:", removed,
            removed == 1 ? "y" : "ies", p->addresses, p->addresses == 1 ? "" : "es", p->bound,
            p->leaving, p->leaving == 1 ? "" : "es", p->leaving_bound, p->resolved,
            p->resolved == 1 ? "" : "s");
}

/* The run record of a retire (a refusal or the retire itself), with its audit entry.
 * @return 0 or -1 */
static int
record_retire(struct db_conn *db,
              const char *name,
              const char *status,
              const char *error,
              long long removed,
              const struct lsync_options *opts)
{
    const struct lsync_store_run run = {
        .source = name,
        .mode = "retire",
        .status = status,
        .error = error,
        .removed = removed,
        .read = -1,
        .actor_kind = opts->actor_kind,
        .actor = opts->actor,
    };

    return lsync_store_run_insert(db, &run) < 0 ? -1 : 0;
}

/* Under the source's lock. */
static enum lsync_outcome
retire_locked(const struct cfg *cfg,
              struct db_conn *db,
              const char *name,
              const struct lsync_options *opts,
              FILE *out,
              FILE *err)
{
    struct lsync_store_retire_preview p;
    long long removed = 0;
    enum db_status st;
    bool held = false;
    char why[512];

    if (db_begin(db) < 0 || lsync_store_lock_held(db, name, &held) < 0) {
        goto failed;
    }
    if (!held) {
        db_rollback(db);
        fprintf(err,
                "source %s: failed, nothing changed: the run lock was lost (the "
                "connection to the database was reset): run again\n",
                name);
        return LSYNC_FAILED;
    }
    st = lsync_store_retire_preview(db, name, &p);
    if (st < 0) {
        goto failed;
    }
    if (st == DB_NO_ROWS) {
        char *shown = lsync_printable(name);

        db_rollback(db);
        fprintf(err, "annuaire sync: no source named '%s' in the database: nothing to retire\n",
                shown);
        free(shown);
        return LSYNC_FAILED;
    }
    if (p.retired_at[0] != '\0' && p.entries == 0) {
        db_rollback(db);
        fprintf(out, "source %s: already retired at %s, no live entries: nothing to do\n", name,
                p.retired_at);
        return LSYNC_SUCCESS;
    }
    /* A whole source goes: the guard is on the annuaire, every source's live entries;
     * a dry run says it would refuse, and exits as the retire would. */
    if (!opts->allow_mass_delete && p.entries > 0 &&
        p.entries * 100 > cfg->sync.max_delete_percent * p.annuaire_live) {
        db_rollback(db);
        snprintf(why, sizeof(why),
                 "retiring would remove %lld of the annuaire's %lld live entries (over "
                 "sync.max_delete_percent, %ld%%): %s; run again with --allow-mass-delete",
                 p.entries, p.annuaire_live, cfg->sync.max_delete_percent,
                 opts->dry_run ? "it would be refused" : "refused");
        if (opts->dry_run) {
            print_retire(out, name, true, &p, p.entries);
            fprintf(err, "source %s: %s\n", name, why);
            return LSYNC_REFUSED;
        }
        if (record_retire(db, name, "refused", why, 0, opts) != 0) {
            fprintf(err, "source %s: the refusal could not be recorded: database: %s\n", name,
                    db_conn_error(db));
        }
        fprintf(err, "source %s: %s\n", name, why);
        return LSYNC_REFUSED;
    }
    if (opts->dry_run) {
        db_rollback(db);
        print_retire(out, name, true, &p, p.entries);
        return LSYNC_SUCCESS;
    }
    if (lsync_store_retire(db, name, &removed) < 0 ||
        record_retire(db, name, "success", NULL, removed, opts) != 0 ||
        lsync_store_purge_retired(db, cfg->sync.purge_after_days) < 0 || db_commit(db) < 0) {
        goto failed;
    }
    print_retire(out, name, false, &p, removed);
    return LSYNC_SUCCESS;
failed:
    snprintf(why, sizeof(why), "database: %s", db_conn_error(db));
    db_rollback(db);
    fprintf(err, "source %s: failed, nothing changed: %s\n", name, why);
    if (!opts->dry_run && record_retire(db, name, "failed", why, 0, opts) != 0) {
        fprintf(err, "source %s: the failure could not be recorded\n", name);
    }
    return LSYNC_FAILED;
}

enum lsync_outcome
lsync_retire(const struct cfg *cfg,
             struct db_conn *db,
             const char *name,
             const struct lsync_options *opts,
             FILE *out,
             FILE *err)
{
    struct lsync_source src;
    enum lsync_outcome o;
    int rc;

    if (configured(cfg, name, &src)) {
        fprintf(err,
                "annuaire sync: source '%s' is still in sync.sources: take it out of the "
                "configuration first\n",
                name);
        return LSYNC_FAILED;
    }
    rc = lsync_lock_take(db, name, err);
    if (rc != 0) {
        return rc > 0 ? LSYNC_BUSY : LSYNC_FAILED;
    }
    o = retire_locked(cfg, db, name, opts, out, err);
    lsync_lock_release(db, name);
    return o;
}

struct conflicts_ctx {
    const struct cfg *cfg;
    FILE *out;
    char *address; /* the address being listed (owned) */
    long long addresses;
};

/* Every field printed through util_esc_text: text from LDAP may hold control
 * characters that a terminal would obey. */
static int
print_claim(void *ctx,
            const char *address,
            const char *source,
            const char *priority,
            const char *key)
{
    struct conflicts_ctx *k = ctx;
    struct lsync_source src;
    bool owner = k->address == NULL || strcmp(k->address, address) != 0;
    char *paddr = util_esc_text(address);
    char *psrc = util_esc_text(source);
    char *pkey = util_esc_text(key);

    if (owner) {
        free(k->address);
        k->address = xstrdup(address);
        k->addresses++;
        fprintf(k->out, "%s\n", paddr);
    }
    fprintf(k->out, "  %s source %s priority %s key %s%s\n", owner ? "owner  " : "claimed", psrc,
            priority != NULL ? priority : "-", pkey,
            configured(k->cfg, source, &src) ? "" : " (not in the configuration)");
    free(pkey);
    free(psrc);
    free(paddr);
    return 0;
}

int
lsync_print_conflicts(const struct cfg *cfg, struct db_conn *db, FILE *out)
{
    struct conflicts_ctx k = { .cfg = cfg, .out = out };
    enum db_status st = lsync_store_conflict_list(db, print_claim, &k);

    free(k.address);
    if (st < 0) {
        fprintf(stderr, "annuaire sync: database: %s\n", db_conn_error(db));
        return -1;
    }
    if (k.addresses == 0) {
        fprintf(out, "no address is claimed by more than one live entry\n");
    } else {
        fprintf(out,
                "%lld address%s claimed by more than one live entry (the owner: the lowest "
                "priority number, then the source name, then the key)\n",
                k.addresses, k.addresses == 1 ? "" : "es");
    }
    return 0;
}
