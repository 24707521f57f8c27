/*
 * The onbind callback: once an invited address is bound, its pending invitations are
 * used by the new Matrix ID (each in the audit log), and its homeserver is told of the
 * room ones (POST /_matrix/federation/v1/3pid/onbind), through a durable queue drained
 * by a worker; a delivered callback sets their delivered_at.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/audit.h"
#include "core/cfg.h"
#include "core/db.h"
#include "core/federation.h"
#include "core/fetch.h"
#include "core/log.h"
#include "core/sign.h"
#include "core/worker.h"
#include "directory/directory.h"
#include "enroll/internal.h"

#define BATCH ENR_ONBIND_BATCH /* the worker's batch */

static struct worker *onbind;

void
enr_bind_invites_clear(struct enr_bind_invites *b)
{
    json_decref(b->invites);
    for (size_t i = 0; i < b->n; i++) {
        free(b->tokens[i]);
    }
    free(b->tokens);
    *b = (struct enr_bind_invites){ 0 };
}

struct collect {
    const struct dir_assoc *a;
    struct enr_bind_invites *out;
    char **used;  /* ids of every invitation used (room and VIP), n_used of them */
    char **kinds; /* and their kinds */
    size_t n_used;
    bool failed; /* a signature could not be made */
};

/* One invitation used by the binding: a room one is signed for it, its token kept to
 * mark it delivered later; every one gets its audit entry after the statement. */
static void
add_invite(void *arg, const struct enr_used_invite *u)
{
    struct collect *k = arg;
    const struct dir_assoc *a = k->a;
    json_t *signed_part;

    k->used = xrealloc(k->used, (k->n_used + 1) * sizeof(*k->used));
    k->kinds = xrealloc(k->kinds, (k->n_used + 1) * sizeof(*k->kinds));
    k->used[k->n_used] = xstrdup(u->id);
    k->kinds[k->n_used++] = xstrdup(u->kind);
    if (strcmp(u->kind, "room") != 0 || u->room_id == NULL || u->sender == NULL) {
        return; /* a VIP invitation: nothing for a homeserver to join */
    }
    signed_part = json_pack("{s:s, s:s}", "mxid", a->mxid, "token", u->token);
    if (sign_json(signed_part, cfg_get()->server.name, DIR_SIGNING_KEY_ID, dir_signing_key()) !=
        0) {
        json_decref(signed_part);
        k->failed = true;
        return;
    }
    json_array_append_new(k->out->invites,
                          json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "medium", a->medium,
                                    "address", a->address, "mxid", a->mxid, "room_id", u->room_id,
                                    "sender", u->sender, "signed", signed_part));
    k->out->tokens = xrealloc(k->out->tokens, (k->out->n + 1) * sizeof(*k->out->tokens));
    k->out->tokens[k->out->n++] = xstrdup(u->token);
}

/* invitation.used for each invitation the binding took, by its new owner. */
static enum db_status
audit_used(struct db_conn *c, const struct collect *k)
{
    enum db_status st = 1;

    for (size_t i = 0; st > 0 && i < k->n_used; i++) {
        json_t *details = json_pack("{s:s, s:s}", "kind", k->kinds[i], "address", k->a->address);
        const struct audit_entry e = {
            .actor_kind = AUDIT_USER,
            .actor = k->a->mxid,
            .action = "invitation.used",
            .object_kind = "invitation",
            .object_id = k->used[i],
            .outcome = AUDIT_OK,
            .details = details,
        };

        st = audit_record(c, &e);
        json_decref(details);
    }
    return st;
}

enum db_status
enr_invites_for_bind(struct db_conn *c, const struct dir_assoc *a, struct enr_bind_invites *out)
{
    struct collect k = { .a = a, .out = out };
    enum db_status st;

    enr_bind_invites_clear(out);
    out->invites = json_array();
    st = enr_store_invites_use(c, a->medium, a->address, a->mxid, add_invite, &k);
    if (st > 0 && k.failed) {
        log_err("onbind: an invitation could not be signed for %s", a->mxid);
        st = DB_HARD;
    }
    if (st > 0) {
        enum db_status ast = audit_used(c, &k);

        st = ast < 0 ? ast : st;
    }
    if (st < 0) {
        enr_bind_invites_clear(out);
    }
    for (size_t i = 0; i < k.n_used; i++) {
        free(k.used[i]);
        free(k.kinds[i]);
    }
    free(k.used);
    free(k.kinds);
    return st;
}

void
enr_onbind_wake(void)
{
    worker_wake(onbind);
}

/*
 * Calls destination back with body.
 * @param[out] status  the homeserver's HTTP status, when it answered
 * @return 0 when it answered (*status), -1 when it could not be reached (err says why)
 */
static int
deliver(const char *destination, const char *body, long *status, char *err, size_t err_size)
{
    const struct cfg_account *acc = &cfg_get()->account;
    struct fetch_opts opts;
    struct fetch_result res = { 0 };
    char *base = NULL;
    char *url;
    int ret = -1;

    *status = 0;
    if (fed_prepare_call(destination, acc, &opts, &base) != FETCH_OK) {
        snprintf(err, err_size, "cannot resolve %s", destination);
        return -1;
    }
    /* POST: what homeservers implement, whatever the spec's PUT says. */
    url = xasprintf("%s/_matrix/federation/v1/3pid/onbind", base);
    if (fetch_request(url, body, NULL, &opts, &res) != FETCH_OK) {
        snprintf(err, err_size, "%s", res.error);
    } else {
        *status = res.status;
        snprintf(err, err_size, "HTTP %ld", res.status);
        ret = 0;
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

/* Claims one due callback, delivers it, records the outcome (delivered; refused for good
 * with a 403; else retried after its backoff), on the thread's own connection.
 * @return callbacks claimed (0 when none is due), -1 when the database failed */
static int
onbind_step(void *arg)
{
    struct db_conn *c = db_thread_conn();
    struct enr_onbind_claim cl = { 0 };
    enum db_status claimed = enr_store_onbind_claim(c, claim_seconds(), &cl);
    enum db_status st;
    char err[256] = "";
    long status = 0;
    int answered;

    if (claimed < 0) {
        log_warn("onbind: cannot read the queue");
        return -1;
    }
    if (claimed == DB_NO_ROWS) {
        return 0;
    }
    answered = deliver(cl.destination, cl.body, &status, err, sizeof(err)) == 0;
    if (answered && status == 200) {
        st = enr_store_onbind_done(c, &cl);
        log_info("onbind: callback %s delivered to %s", cl.id, cl.destination);
    } else if (answered && status == 403) {
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
    return claimed;
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
