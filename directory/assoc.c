/*
 * 3PID associations as the directory stores and signs them, the module's start-up
 * (its statements), and the lookup pepper: made once, rotated by 'annuaire pepper'.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "core/audit.h"
#include "core/cfg.h"
#include "core/crypto.h"
#include "core/db.h"
#include "core/sign.h"
#include "directory/internal.h"
#include "directory/search_store.h"

#define HUNDRED_YEARS_MS (100LL * 365 * 24 * 3600 * 1000)

static pthread_once_t registered = PTHREAD_ONCE_INIT;

static void
register_stmts(void)
{
    db_register(dir_store_stmts, dir_store_n_stmts);
    db_register(dir_search_stmts, dir_search_n_stmts);
}

void
dir_init(void)
{
    pthread_once(&registered, register_stmts);
}

void
dir_assoc_clear(struct dir_assoc *a)
{
    free(a->medium);
    free(a->address);
    free(a->mxid);
    memset(a, 0, sizeof(*a));
}

void
dir_assoc_now(struct dir_assoc *a)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    a->ts = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    a->not_before = a->ts;
    a->not_after = a->ts + HUNDRED_YEARS_MS;
}

enum db_status
dir_assoc_bind(struct db_conn *c, const struct dir_assoc *a)
{
    enum db_status st = dir_store_assoc_upsert(c, a);

    return st == DB_NO_ROWS ? DB_HARD : st; /* no row: no pepper yet, which serve prevents */
}

enum db_status
dir_assoc_unbind(struct db_conn *c, const char *medium, const char *address, const char *mxid)
{
    return dir_store_assoc_delete(c, medium, address, mxid);
}

enum db_status
dir_assoc_get(struct db_conn *c, const char *medium, const char *address, struct dir_assoc *out)
{
    return dir_store_assoc_get(c, medium, address, out);
}

json_t *
dir_assoc_signed(const struct dir_assoc *a, const json_t *invites)
{
    json_t *obj = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I}", "address", a->address, "medium",
                            a->medium, "mxid", a->mxid, "not_before", (json_int_t)a->not_before,
                            "not_after", (json_int_t)a->not_after, "ts", (json_int_t)a->ts);

    if (obj != NULL && invites != NULL && json_array_size(invites) > 0) {
        json_object_set(obj, "invites", (json_t *)invites);
    }
    if (obj == NULL || dir_signing_key() == NULL ||
        sign_json(obj, cfg_get()->server.name, DIR_SIGNING_KEY_ID, dir_signing_key()) != 0) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

int
dir_pepper_ensure(struct db_conn *c, char *err, size_t err_size)
{
    char *pepper = cx_random_token(12);
    enum db_status st = dir_store_pepper_ensure(c, pepper);

    OPENSSL_cleanse(pepper, strlen(pepper));
    free(pepper);
    if (st < 0) {
        snprintf(err, err_size, "database: %s", db_conn_error(c));
        return -1;
    }
    return 0;
}

int
dir_pepper_rotate(struct db_conn *c,
                  const char *actor_kind,
                  const char *actor,
                  long long *n_rehashed,
                  char *err,
                  size_t err_size)
{
    char *pepper = cx_random_token(12);
    json_t *details = json_object();
    enum db_status st;

    *n_rehashed = 0;
    /* One transaction: lookups see the old pepper and hashes, or the new ones. */
    st = db_begin(c);
    if (st >= 0) {
        st = dir_store_pepper_replace(c, pepper);
    }
    if (st >= 0) {
        st = dir_store_assoc_rehash(c, pepper);
    }
    if (st >= 0) {
        /* The entry says who and how many: never the pepper. */
        const struct audit_entry e = { actor_kind, actor,    "pepper.rotated", "pepper",
                                       NULL,       AUDIT_OK, details };

        *n_rehashed = st;
        json_object_set_new(details, "rehashed", json_integer(st));
        st = audit_record(c, &e);
    }
    if (st >= 0) {
        st = db_commit(c);
    } else {
        db_rollback(c);
    }
    json_decref(details);
    OPENSSL_cleanse(pepper, strlen(pepper));
    free(pepper);
    if (st < 0) {
        *n_rehashed = 0;
        snprintf(err, err_size, "database: %s", db_conn_error(c));
        return -1;
    }
    return 0;
}
