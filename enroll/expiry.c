/*
 * The invitation expiry sweep: a worker that turns pending invitations past their expiry
 * (invites.expires_at, set when each was stored) into expired ones, each with an
 * invitation.expired audit entry in the same transaction, a batch at a time. It sleeps
 * until the first pending invitation expires (at most 30 s), or until woken on the
 * annuaire_invites channel. Instances on one database share the work: a row another
 * transaction holds is skipped, and none is expired twice.
 *
 * The sweep records what already holds: an invitation past its expiry stops counting
 * (enrollment gate, internal-info, bind) at that instant, swept or not.
 */
#include <stdlib.h>

#include "core/audit.h"
#include "core/cfg.h"
#include "core/db.h"
#include "core/log.h"
#include "core/util.h"
#include "core/worker.h"
#include "enroll/enroll.h"
#include "enroll/internal.h"

#define BATCH 100 /* invitations expired per transaction */

static struct worker *expiry;

/* What one transaction expired. */
struct expired {
    struct expired_row {
        char *id, *kind, *address;
    } rows[BATCH];
    size_t n;
};

static void
expired_clear(struct expired *x)
{
    for (size_t i = 0; i < x->n; i++) {
        free(x->rows[i].id);
        free(x->rows[i].kind);
        free(x->rows[i].address);
    }
    x->n = 0;
}

static void
add_expired(void *arg, const char *id, const char *kind, const char *address)
{
    struct expired *x = arg;

    if (x->n < BATCH) { /* the statement's LIMIT */
        x->rows[x->n++] = (struct expired_row){ xstrdup(id), xstrdup(kind), xstrdup(address) };
    }
}

/* A batch expired, and each in the audit log, by the system. */
static enum db_status
expire_txn(struct db_conn *c, const void *in, void *out)
{
    struct expired *x = out;
    enum db_status st;

    (void)in;
    expired_clear(x);
    st = enr_store_invites_expire(c, BATCH, add_expired, x);
    for (size_t i = 0; st > 0 && i < x->n; i++) {
        json_t *details =
            json_pack("{s:s, s:s}", "kind", x->rows[i].kind, "address", x->rows[i].address);
        const struct audit_entry e = {
            .actor_kind = AUDIT_SYSTEM,
            .actor = "system",
            .action = "invitation.expired",
            .object_kind = "invitation",
            .object_id = x->rows[i].id,
            .outcome = AUDIT_OK,
            .details = details,
        };
        enum db_status ast = audit_record(c, &e);

        json_decref(details);
        st = ast < 0 ? ast : st;
    }
    return st;
}

/* One batch, on the thread's own connection.
 * @return invitations expired (BATCH: more may be due), -1 when the database failed */
static int
expiry_step(void *arg)
{
    struct expired *x = xcalloc(1, sizeof(*x));
    enum db_status st;
    int n;

    (void)arg;
    st = db_txn_run(db_thread_conn(), "invite_expiry", expire_txn, NULL, x);
    if (st < 0) {
        log_warn("invite expiry: cannot expire invitations now");
        n = -1;
    } else {
        n = (int)x->n;
        if (n > 0) {
            log_info("invite expiry: %d invitation(s) expired", n);
        }
    }
    expired_clear(x);
    free(x);
    return n;
}

static const struct worker_spec expiry_worker = {
    .name = "invite expiry",
    .listen_stmt = "enr_store_expiry_listen",
    .next_due_stmt = "enr_store_expiry_next_due",
    .step = expiry_step,
    .batch = BATCH,
};

int
enr_expiry_start(void)
{
    expiry = worker_start(&expiry_worker, &cfg_get()->database);
    return expiry ? 0 : -1;
}

void
enr_expiry_stop(void)
{
    worker_stop(expiry);
    expiry = NULL;
}
