#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "core/cfg.h"
#include "core/crypto.h"
#include "core/db.h"
#include "core/sign.h"
#include "directory/internal.h"

#define HUNDRED_YEARS_MS (100LL * 365 * 24 * 3600 * 1000)

void
dir_init(void)
{
    db_register(dir_store_stmts, dir_store_n_stmts);
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

int
dir_assoc_bind(struct db_conn *c, const struct dir_assoc *a)
{
    enum db_status st = dir_store_assoc_upsert(c, a);

    return st == 0 ? DB_HARD : st; /* no row: no pepper yet, which serve prevents */
}

int
dir_assoc_unbind(struct db_conn *c, const char *medium, const char *address, const char *mxid)
{
    return dir_store_assoc_delete(c, medium, address, mxid);
}

int
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
dir_pepper_ensure(PGconn *pg, char *err, size_t err_size)
{
    char *pepper = cx_random_token(12);
    const char *params[] = { pepper };
    int ret = db_plain_exec(pg,
                            "INSERT INTO annuaire.lookup_pepper (pepper) VALUES ($1)"
                            " ON CONFLICT (singleton) DO NOTHING",
                            1, params, NULL, err, err_size);

    free(pepper);
    return ret;
}

int
dir_pepper_rotate(PGconn *pg, long long *n_rehashed, char *err, size_t err_size)
{
    char *pepper = cx_random_token(12);
    const char *params[] = { pepper };
    PGresult *res = NULL;
    int ret = -1;

    *n_rehashed = 0;
    /* One transaction: lookups see the old pepper and hashes, or the new ones. */
    if (db_plain_exec(pg, "BEGIN", 0, NULL, NULL, err, err_size) != 0) {
        goto cleanup;
    }
    if (db_plain_exec(pg,
                      "INSERT INTO annuaire.lookup_pepper (pepper) VALUES ($1)"
                      " ON CONFLICT (singleton) DO UPDATE SET pepper = EXCLUDED.pepper,"
                      " rotated_at = now()",
                      1, params, NULL, err, err_size) != 0 ||
        db_plain_exec(pg,
                      "UPDATE annuaire.associations SET lookup_hash = annuaire.lookup_hash(address,"
                      " medium, $1)",
                      1, params, &res, err, err_size) != 0 ||
        db_plain_exec(pg, "COMMIT", 0, NULL, NULL, err, err_size) != 0) {
        PQclear(PQexec(pg, "ROLLBACK"));
        goto cleanup;
    }
    *n_rehashed = atoll(PQcmdTuples(res));
    ret = 0;
cleanup:
    PQclear(res);
    free(pepper);
    return ret;
}
