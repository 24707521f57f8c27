/*
 * The enrollment module's start-up (statements, current terms policies, templates) and
 * access tokens: stored as their hex SHA-256, and checked for the router (the token's user,
 * and whether it has accepted the current terms).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cfg.h"
#include "core/crypto.h"
#include "core/log.h"
#include "enroll/enroll.h"
#include "enroll/internal.h"

/* [[urls of policy 1], [urls of policy 2], ...] of the current terms. */
static char *terms_required;
static json_t *policy_urls; /* {url: true} */

int
enr_init(char *err, size_t err_size)
{
    const json_t *policies = cfg_get()->terms.policies;
    json_t *required = json_array();
    const char *id;
    json_t *policy;

    db_register(enr_store_stmts, enr_store_n_stmts);
    policy_urls = json_object();
    json_object_foreach ((json_t *)policies, id, policy) {
        json_t *urls = json_array();
        const char *lang;
        json_t *item;

        json_object_foreach (policy, lang, item) {
            if (json_is_object(item)) {
                json_array_append(urls, json_object_get(item, "url"));
                json_object_set_new(policy_urls, json_string_value(json_object_get(item, "url")),
                                    json_true());
            }
        }
        json_array_append_new(required, urls);
    }
    terms_required = json_dumps(required, JSON_COMPACT);
    json_decref(required);
    return enr_templates_load(err, err_size);
}

void
enr_shutdown(void)
{
    free(terms_required);
    terms_required = NULL;
    json_decref(policy_urls);
    policy_urls = NULL;
    enr_templates_free();
}

const char *
enr_terms_required_json(void)
{
    return terms_required ? terms_required : "[]";
}

bool
enr_terms_is_policy_url(const char *url)
{
    return json_object_get(policy_urls, url) != NULL;
}

void
enr_token_hash(const char *token, char out[ENR_TOKEN_HASH_LEN + 1])
{
    _Static_assert(ENR_TOKEN_HASH_LEN == CX_TOKEN_HASH_LEN, "one stored form of tokens");
    cx_token_hash(token, out);
}

enum reply_status
enr_authenticate(struct http_req *r, const char *token, bool check_terms)
{
    char hash[ENR_TOKEN_HASH_LEN + 1];
    bool terms_ok = false;
    enum db_status st;

    enr_token_hash(token, hash);
    st = enr_store_account_auth(r->db, hash, &r->user_id, &terms_ok);
    if (st < 0) {
        return http_reply_status(http_reply_ec(r, E_DB_UNAVAILABLE, NULL));
    }
    if (st == 0) {
        return http_reply_status(http_reply_ec(r, E_UNAUTHORIZED, NULL));
    }
    if (check_terms && !terms_ok) {
        return http_reply_status(http_reply_ec(r, E_TERMS_NOT_SIGNED, NULL));
    }
    return RS_OK;
}
