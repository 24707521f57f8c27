/*
 * The admin API's tokens as the command line manages them (cmd/admin.c): a new token is
 * 32 bytes of OpenSSL's RNG of which only the SHA-256 is stored; each creation and
 * revocation writes its audit entry in its transaction.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "admin/internal.h"
#include "core/audit.h"
#include "core/crypto.h"

bool
adm_token_name_ok(const char *s)
{
    size_t n = strlen(s);

    return n >= 1 && n <= 64 &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

struct token_change {
    const struct adm_actor *who;
    const char *name;
    const char *hash;   /* create */
    const char *scopes; /* create: a text[] literal */
    const json_t *details;
};

static enum db_status
record(struct db_conn *c, const struct token_change *q, const char *action)
{
    const struct audit_entry e = { q->who->kind, q->who->name, action,    "admin_token",
                                   q->name,      AUDIT_OK,     q->details };

    return audit_record(c, &e);
}

static enum db_status
create_txn(struct db_conn *c, const void *in, void *out)
{
    const struct token_change *q = in;
    enum db_status st = adm_store_token_insert(c, q->name, q->hash, q->scopes);

    (void)out;
    return st > 0 ? record(c, q, "admin.token.created") : st;
}

static enum db_status
revoke_txn(struct db_conn *c, const void *in, void *out)
{
    const struct token_change *q = in;
    enum db_status st = adm_store_token_delete(c, q->name);

    (void)out;
    return st > 0 ? record(c, q, "admin.token.revoked") : st;
}

enum adm_token_status
adm_token_create(struct db_conn *c,
                 const struct adm_actor *who,
                 const char *name,
                 const char *const *scopes,
                 size_t n_scopes,
                 char **out_token)
{
    char *token = cx_random_token(32);
    char hash[CX_TOKEN_HASH_LEN + 1];
    char *array = db_text_array(scopes, n_scopes);
    json_t *names = json_array();
    struct token_change q = { .who = who, .name = name, .hash = hash, .scopes = array };
    enum db_status st;

    for (size_t i = 0; i < n_scopes; i++) {
        json_array_append_new(names, json_string(scopes[i]));
    }
    q.details = json_pack("{s:o}", "scopes", names);
    cx_token_hash(token, hash);
    st = db_txn_run(c, "admin_token_create", create_txn, &q, NULL);
    json_decref((json_t *)q.details);
    free(array);
    *out_token = NULL;
    if (st > 0) {
        *out_token = token;
        return ADM_TOKEN_OK;
    }
    OPENSSL_cleanse(token, strlen(token));
    free(token);
    return st == 0 ? ADM_TOKEN_TAKEN : ADM_TOKEN_DB;
}

enum adm_token_status
adm_token_revoke(struct db_conn *c, const struct adm_actor *who, const char *name)
{
    const struct token_change q = { .who = who, .name = name };
    enum db_status st = db_txn_run(c, "admin_token_revoke", revoke_txn, &q, NULL);

    return st > 0 ? ADM_TOKEN_OK : st == 0 ? ADM_TOKEN_UNKNOWN : ADM_TOKEN_DB;
}

static void
list_row(void *arg,
         const char *name,
         const char *scopes,
         const char *created_at,
         const char *last_used_at)
{
    json_t *list = arg;
    json_t *s = json_loads(scopes, 0, NULL);

    json_array_append_new(list, json_pack("{s:s, s:o, s:s, s:s?}", "name", name, "scopes",
                                          s != NULL ? s : json_array(), "created_at", created_at,
                                          "last_used_at", last_used_at));
}

enum adm_token_status
adm_token_list(struct db_conn *c, json_t **out)
{
    *out = json_array();
    if (adm_store_token_list(c, list_row, *out) < 0) {
        json_decref(*out);
        *out = NULL;
        return ADM_TOKEN_DB;
    }
    return ADM_TOKEN_OK;
}
