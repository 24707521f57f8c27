#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cfg.h"
#include "core/db.h"
#include "core/federation.h"
#include "core/fetch.h"
#include "core/log.h"
#include "core/sign.h"
#include "core/worker.h"
#include "directory/directory.h"
#include "enroll/internal.h"

#define BATCH 1 /* callbacks claimed per step (enr_store_onbind_claim) */

static struct worker *onbind;

/*
 * Bind side: the invites waiting for this address, each with its "signed" {mxid, token}.
 * @param[out] tokens  their tokens, as a PostgreSQL text[] literal (tokens are URL-safe)
 * @return the invites (maybe empty), or NULL on a database failure
 */
json_t *
enr_invites_for_bind(struct db_conn *c, const struct dir_assoc *a, char **tokens)
{
    PGresult *res = NULL;
    enum db_status st = enr_store_invites_for(c, a->medium, a->address, &res);
    json_t *invites;
    size_t len = 2;

    *tokens = NULL;
    if (st < 0) {
        return NULL;
    }
    invites = json_array();
    for (int i = 0; i < PQntuples(res); i++) {
        len += strlen(PQgetvalue(res, i, 0)) + 1;
    }
    *tokens = xmalloc(len + 1);
    strcpy(*tokens, "{");
    for (int i = 0; i < PQntuples(res); i++) {
        const char *token = PQgetvalue(res, i, 0);
        json_t *signed_part = json_pack("{s:s, s:s}", "mxid", a->mxid, "token", token);

        if (sign_json(signed_part, cfg_get()->server.name, DIR_SIGNING_KEY_ID, dir_signing_key()) !=
            0) {
            json_decref(signed_part);
            continue;
        }
        json_array_append_new(invites, json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "medium",
                                                 a->medium, "address", a->address, "mxid", a->mxid,
                                                 "room_id", PQgetvalue(res, i, 1), "sender",
                                                 PQgetvalue(res, i, 2), "signed", signed_part));
        if (i > 0) {
            strcat(*tokens, ",");
        }
        strcat(*tokens, token);
    }
    strcat(*tokens, "}");
    PQclear(res);
    return invites;
}

void
enr_onbind_wake(void)
{
    worker_wake(onbind);
}

/* Delivers one callback. @return 0 done, 1 retry later, 2 refused for good */
static int
deliver(const char *destination, const char *body, char *err, size_t err_size)
{
    const struct cfg_account *acc = &cfg_get()->account;
    struct fetch_opts opts;
    struct fetch_result res = { 0 };
    char *base = NULL;
    char *url;
    int ret = 1;

    if (fed_prepare_call(destination, acc, &opts, &base) != FETCH_OK) {
        snprintf(err, err_size, "cannot resolve %s", destination);
        return 1;
    }
    /* POST: what homeservers implement, whatever the spec's PUT says. */
    url = xasprintf("%s/_matrix/federation/v1/3pid/onbind", base);
    if (fetch_request(url, body, NULL, &opts, &res) != FETCH_OK) {
        snprintf(err, err_size, "%s", res.error);
    } else if (res.status == 200) {
        ret = 0;
    } else {
        snprintf(err, err_size, "HTTP %ld", res.status);
        ret = res.status == 403 ? 2 : 1;
    }
    fetch_result_clear(&res);
    free(url);
    free(base);
    return ret;
}

/* How long a claimed callback is ours: longer than a call can take (.well-known
 * discovery and the call itself, each bounded by account.request_timeout), so that no
 * other instance takes it while it is under way; the retry delay when longer. */
static long
claim_seconds(void)
{
    return 2 * cfg_get()->account.request_timeout + 5;
}

/* Claims one due callback, delivers it, records the outcome, on the thread's own
 * connection. @return 1 when one was claimed, 0 when none is due, -1 when the
 * database failed */
static int
onbind_step(void *arg)
{
    struct db_conn *c = db_thread_conn();
    struct enr_onbind_claim cl = { 0 };
    enum db_status st = enr_store_onbind_claim(c, claim_seconds(), &cl);
    char err[256] = "";
    int outcome;

    if (st < 0) {
        log_warn("onbind: cannot read the queue");
        return -1;
    }
    if (st == 0) {
        return 0;
    }
    outcome = deliver(cl.destination, cl.body, err, sizeof(err));
    if (outcome == 0) {
        st = enr_store_onbind_done(c, &cl);
        log_info("onbind: callback %s delivered to %s", cl.id, cl.destination);
    } else if (outcome == 2) {
        st = enr_store_onbind_gave_up(c, &cl, err);
        log_warn("onbind: %s refused callback %s (%s): not retried", cl.destination, cl.id, err);
    } else {
        st = enr_store_onbind_retry(c, &cl, err);
        log_warn("onbind: callback %s to %s failed, will retry: %s", cl.id, cl.destination, err);
    }
    if (st < 0) {
        /* Tried again when the claim runs out: the homeserver may get it twice. */
        log_warn("onbind: the outcome of callback %s could not be recorded", cl.id);
    }
    enr_onbind_claim_clear(&cl);
    return 1;
}

static const struct worker_spec onbind_worker = {
    .name = "onbind",
    .listen_stmt = "enr_store_onbind_listen",
    .next_due_stmt = "enr_store_onbind_next_due",
    .step = onbind_step,
    .batch = BATCH,
};

int
enr_onbind_start(void)
{
    onbind = worker_start(&onbind_worker, &cfg_get()->database);
    return onbind ? 0 : -1;
}

void
enr_onbind_stop(void)
{
    worker_stop(onbind);
    onbind = NULL;
}
