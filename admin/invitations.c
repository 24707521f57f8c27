/*
 * VIP invitations and the admin's hold on every invitation, as the admin API
 * (admin/invitations_*.c, admin/invitation_*.c) and the command line (cmd/invite.c) offer
 * them: one implementation for both, each action with its audit entry in its transaction.
 * A VIP invitation is created for an address in its canonical form only, for the
 * homeserver routing gives it, and its mail goes to that address and no other.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "admin/internal.h"
#include "core/address.h"
#include "core/audit.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/mail.h"
#include "core/util.h"
#include "directory/directory.h"
#include "enroll/enroll.h"
#include "routing/routing.h"

#define INVITE_DEFAULT_EXPIRY (30LL * 86400)
#define INVITE_MAX_EXPIRY     (365LL * 86400)
#define NOTE_MAX_CHARS        500
#define INVITER_MAX_CHARS     100

/* ---- The invitation object ---- */

static json_t *
text_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

static json_t *
invitation_json(const struct adm_invitation *inv)
{
    json_t *o = json_object();
    const struct {
        const char *key, *value;
    } texts[] = {
        { "id", inv->id },
        { "kind", inv->kind },
        { "address", inv->address },
        { "homeserver", inv->homeserver },
        { "state", inv->state },
        { "created_at", inv->created_at },
        { "expires_at", inv->expires_at },
        { "inviter", inv->inviter },
        { "note", inv->note },
        { "created_by", inv->created_by },
        { "lang", inv->lang },
        { "last_mailed_at", inv->last_mailed_at },
        { "used_at", inv->used_at },
        { "used_by", inv->used_by },
        { "revoked_at", inv->revoked_at },
        { "revoked_by", inv->revoked_by },
        { "room_id", inv->room_id },
        { "sender", inv->sender },
    };

    for (size_t i = 0; i < ANN_ARRAY_LEN(texts); i++) {
        json_object_set_new(o, texts[i].key, text_or_null(texts[i].value));
    }
    json_object_set_new(o, "mailed_count",
                        json_integer(inv->mailed_count != NULL ? atoll(inv->mailed_count) : 0));
    return o;
}

/* What a transaction keeps of the invitation it read or wrote (json owned). */
struct inv_copy {
    json_t *json;
    char *id, *kind, *state, *address, *homeserver, *inviter, *note, *lang;
    long long expires_epoch;
};

static void
inv_copy_clear(struct inv_copy *k)
{
    json_decref(k->json);
    free(k->id);
    free(k->kind);
    free(k->state);
    free(k->address);
    free(k->homeserver);
    free(k->inviter);
    free(k->note);
    free(k->lang);
    *k = (struct inv_copy){ 0 };
}

static char *
dup_or_null(const char *s)
{
    return s != NULL ? xstrdup(s) : NULL;
}

static void
keep_invitation(void *arg, const struct adm_invitation *inv)
{
    struct inv_copy *k = arg;

    inv_copy_clear(k);
    k->json = invitation_json(inv);
    k->id = xstrdup(inv->id);
    k->kind = xstrdup(inv->kind);
    k->state = xstrdup(inv->state);
    k->address = xstrdup(inv->address);
    k->homeserver = dup_or_null(inv->homeserver);
    k->inviter = dup_or_null(inv->inviter);
    k->note = dup_or_null(inv->note);
    k->lang = dup_or_null(inv->lang);
    k->expires_epoch = inv->expires_epoch;
}

/* ---- Checks of what an admin sends ---- */

/* Characters of UTF-8 text s, or -1 when it holds a control character (C0, DEL, C1, U+2028,
 * U+2029) or "{{": it is shown in a mail, where a line break could forge a header or a
 * line, and where no placeholder may ever appear. */
static long
shown_chars(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    long n = 0;

    if (strstr(s, "{{") != NULL) {
        return -1;
    }

    while (*p != '\0') {
        if (*p < 0x20 || *p == 0x7f || (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) ||
            (p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9))) {
            return -1;
        }
        n += (*p & 0xc0) != 0x80;
        p++;
    }
    return n;
}

long long
adm_duration_parse(const char *s)
{
    char *end = NULL;
    long long v, unit = 1;

    if (s == NULL || *s < '0' || *s > '9') {
        return -1;
    }
    v = strtoll(s, &end, 10);
    if (end == s || v <= 0 || v > INVITE_MAX_EXPIRY) {
        return -1;
    }
    if (*end != '\0') {
        switch (*end) {
        case 'd':
            unit = 86400;
            break;
        case 'h':
            unit = 3600;
            break;
        case 'm':
            unit = 60;
            break;
        case 's':
            unit = 1;
            break;
        default:
            return -1;
        }
        if (end[1] != '\0') {
            return -1;
        }
    }
    return v <= INVITE_MAX_EXPIRY / unit ? v * unit : -1;
}

/* ---- Creating one ---- */

struct create_q {
    const struct adm_actor *who;
    const char *address; /* canonical */
    const char *homeserver;
    const char *inviter;
    const char *note;
    const char *lang;
    const char *web_client_location;
    long long expires_in;
};

struct create_out {
    enum adm_inv_status status;
    struct inv_copy inv;
    char *pending_id;
};

/* The mail of invitation k, as its row holds it. @return the message, or NULL (logged) */
static char *
vip_mail(const struct inv_copy *k, const char *web_client_location)
{
    const struct enr_vip_mail m = {
        .lang = k->lang,
        .address = k->address,
        .inviter = k->inviter,
        .note = k->note,
        .homeserver = k->homeserver,
        .web_client_location = web_client_location,
        .expires_at = k->expires_epoch,
    };
    char *msg = enr_vip_mail_render(&m);

    if (msg == NULL) {
        log_bug("a VIP invitation's mail could not be rendered from values already checked");
    }
    return msg;
}

/* Queues the mail of k and writes action to the audit log. @return 1, or DB_SOFT / DB_HARD */
static enum db_status
mail_and_record(struct db_conn *c,
                const struct inv_copy *k,
                const struct adm_actor *who,
                const char *action,
                const char *web_client_location)
{
    char *msg = vip_mail(k, web_client_location);
    json_t *details;
    enum db_status st;

    if (msg == NULL) {
        return DB_HARD;
    }
    st = mail_queue_invite(c, k->address, "vip_invite", msg, k->id);
    OPENSSL_cleanse(msg, strlen(msg));
    free(msg);
    if (st < 0) {
        return st;
    }
    details = json_pack("{s:s, s:s?, s:s, s:s?}", "address", k->address, "homeserver",
                        k->homeserver, "kind", k->kind, "lang", k->lang);
    const struct audit_entry e = { who->kind, who->name, action, "invitation",
                                   k->id,     AUDIT_OK,  details };
    st = audit_record(c, &e);
    json_decref(details);
    return st;
}

/* An admin action refused (the address bound, an invitation pending already or no longer
 * pending, ...): invitation.refused, with the request refused ("create", "resend",
 * "revoke") and why in details, in the action's transaction. Takes details.
 * @return 1, or DB_SOFT / DB_HARD */
static enum db_status
record_refusal(struct db_conn *c,
               const struct adm_actor *who,
               const char *request,
               const char *id,
               json_t *details)
{
    const struct audit_entry e = { who->kind,     who->name, "invitation.refused", "invitation", id,
                                   AUDIT_REFUSED, details };

    json_object_set_new(details, "request", json_string(request));
    enum db_status st = audit_record(c, &e);

    json_decref(details);
    return st;
}

static enum db_status
create_txn(struct db_conn *c, const void *in, void *out)
{
    const struct create_q *q = in;
    struct create_out *o = out;
    struct dir_assoc a = { 0 };
    char *token = NULL;
    enum db_status st;

    /* A retried transaction starts over. */
    inv_copy_clear(&o->inv);
    free(o->pending_id);
    o->pending_id = NULL;
    o->status = ADM_INV_OK;
    st = dir_assoc_get(c, "email", q->address, &a);
    if (st > 0) {
        dir_assoc_clear(&a);
        o->status = ADM_INV_BOUND;
        return record_refusal(c, q->who, "create", NULL,
                              json_pack("{s:s, s:s}", "address", q->address, "reason", "bound"));
    }
    if (st < 0) {
        return st;
    }
    st = adm_store_invitation_pending_vip(c, q->address, &o->pending_id);
    if (st != 0) {
        o->status = st > 0 ? ADM_INV_PENDING : ADM_INV_DB;
        return st < 0 ? st
                      : record_refusal(
                            c, q->who, "create", o->pending_id,
                            json_pack("{s:s, s:s}", "address", q->address, "reason", "pending"));
    }
    token = cx_random_token(32);
    st = adm_store_invitation_insert(c, token, q->address, q->homeserver, q->expires_in, q->inviter,
                                     q->note, q->who->name, q->lang, keep_invitation, &o->inv);
    free(token);
    if (st == 0) {
        return DB_SOFT; /* the random token taken already: draw another */
    }
    if (st > 0) {
        st = mail_and_record(c, &o->inv, q->who, "invitation.created", q->web_client_location);
    }
    return st;
}

/* The homeserver routing gives the address (borrowed from routing), into *hs; NULL when
 * routing is off. @return 0, or -1 when no homeserver takes it */
static int
routed_homeserver(const struct routing_map *routing, const char *address, const char **hs)
{
    struct routing_result route;
    char *key = NULL;
    bool found;

    *hs = NULL;
    if (routing == NULL) {
        return 0;
    }
    if (routing_normalise(address, &key) != 0) {
        return -1;
    }
    found = routing_match(routing, key, &route);
    free(key);
    if (!found) {
        return -1;
    }
    *hs = route.hs;
    return 0;
}

enum adm_inv_status
adm_invitation_create(struct db_conn *c,
                      const struct routing_map *routing,
                      const struct adm_actor *who,
                      const struct adm_invite_in *in,
                      json_t **out,
                      const char **why)
{
    struct create_q q = { .who = who,
                          .note = in->note,
                          .lang = in->lang != NULL ? in->lang : "fr" };
    struct create_out o = { 0 };
    char *address = NULL;
    long n;
    enum adm_inv_status status;

    *out = NULL;
    *why = NULL;
    q.inviter = in->inviter != NULL ? in->inviter : who->name;
    if (q.note != NULL && *q.note == '\0') {
        q.note = NULL; /* no note */
    }
    q.expires_in = in->expires_in != 0 ? in->expires_in : INVITE_DEFAULT_EXPIRY;
    q.web_client_location = adm_config(cfg_get()).web_client_location;
    if (addr_email_check(in->address, &address, why) != 0) {
        return ADM_INV_BAD_EMAIL;
    }
    if (q.note != NULL && ((n = shown_chars(q.note)) < 0 || n > NOTE_MAX_CHARS)) {
        *why = "note: at most 500 characters, without line breaks, control characters or \"{{\"";
        status = ADM_INV_BAD_PARAM;
    } else if ((n = shown_chars(q.inviter)) < 1 || n > INVITER_MAX_CHARS) {
        *why = "inviter: 1 to 100 characters, without line breaks, control characters or \"{{\"";
        status = ADM_INV_BAD_PARAM;
    } else if (strcmp(q.lang, "fr") != 0 && strcmp(q.lang, "en") != 0) {
        *why = "lang: \"fr\" or \"en\"";
        status = ADM_INV_BAD_PARAM;
    } else if (q.expires_in <= 0 || q.expires_in > INVITE_MAX_EXPIRY) {
        *why = "expires_in: from 1 second to 1 year (31536000 seconds)";
        status = ADM_INV_BAD_PARAM;
    } else if (routed_homeserver(routing, address, &q.homeserver) != 0) {
        *why = "the routing maps it to none, so it could not register anywhere";
        status =
            record_refusal(c, who, "create", NULL,
                           json_pack("{s:s, s:s}", "address", address, "reason", "no_route")) < 0
                ? ADM_INV_DB
                : ADM_INV_NO_ROUTE;
    } else {
        q.address = address;
        status = db_txn_run(c, "admin_invitation_create", create_txn, &q, &o) < 0 ? ADM_INV_DB
                                                                                  : o.status;
    }
    if (status == ADM_INV_OK) {
        mail_wake();
        *out = o.inv.json;
        o.inv.json = NULL;
    } else if (status == ADM_INV_PENDING) {
        *out = json_pack("{s:s}", "id", o.pending_id);
    }
    inv_copy_clear(&o.inv);
    free(o.pending_id);
    free(address);
    return status;
}

/* ---- One, resent, revoked ---- */

enum adm_inv_status
adm_invitation_find(struct db_conn *c, const char *id, json_t **out)
{
    struct inv_copy k = { 0 };
    enum db_status st = DB_NO_ROWS;

    *out = NULL;
    if (adm_id_ok(id)) {
        st = adm_store_invitation_get(c, id, false, keep_invitation, &k);
    }
    if (st > 0) {
        *out = k.json;
        k.json = NULL;
    }
    inv_copy_clear(&k);
    return st < 0 ? ADM_INV_DB : st == 0 ? ADM_INV_NOT_FOUND : ADM_INV_OK;
}

struct change_q {
    const struct adm_actor *who;
    const char *id;
    const char *web_client_location;
};

struct change_out {
    enum adm_inv_status status;
    struct inv_copy inv;
};

static enum db_status
resend_txn(struct db_conn *c, const void *in, void *out)
{
    const struct change_q *q = in;
    struct change_out *o = out;
    enum db_status st = adm_store_invitation_get(c, q->id, true, keep_invitation, &o->inv);

    if (st <= 0) {
        o->status = st == 0 ? ADM_INV_NOT_FOUND : ADM_INV_DB;
        return st;
    }
    if (strcmp(o->inv.kind, "vip") != 0) {
        o->status = ADM_INV_ROOM;
        return record_refusal(c, q->who, "resend", o->inv.id, json_pack("{s:s}", "reason", "room"));
    }
    if (strcmp(o->inv.state, "pending") != 0) {
        o->status = ADM_INV_NOT_PENDING;
        return record_refusal(
            c, q->who, "resend", o->inv.id,
            json_pack("{s:s, s:s}", "reason", "not_pending", "state", o->inv.state));
    }
    o->status = ADM_INV_OK;
    return mail_and_record(c, &o->inv, q->who, "invitation.resent", q->web_client_location);
}

static enum db_status
revoke_txn(struct db_conn *c, const void *in, void *out)
{
    const struct change_q *q = in;
    struct change_out *o = out;
    enum db_status st =
        adm_store_invitation_revoke(c, q->id, q->who->name, keep_invitation, &o->inv);
    json_t *details;

    if (st == 0) {
        /* Not revoked: there is none, or it is not pending any more. */
        st = adm_store_invitation_get(c, q->id, false, keep_invitation, &o->inv);
        o->status = st > 0 ? ADM_INV_NOT_PENDING : ADM_INV_NOT_FOUND;
        return st <= 0 ? st
                       : record_refusal(c, q->who, "revoke", o->inv.id,
                                        json_pack("{s:s, s:s}", "reason", "not_pending", "state",
                                                  o->inv.state));
    }
    if (st < 0) {
        return st;
    }
    o->status = ADM_INV_OK;
    details = json_pack("{s:s, s:s}", "address", o->inv.address, "kind", o->inv.kind);
    const struct audit_entry e = { q->who->kind, q->who->name, "invitation.revoked",
                                   "invitation", o->inv.id,    AUDIT_OK,
                                   details };
    st = audit_record(c, &e);
    json_decref(details);
    return st;
}

static enum adm_inv_status
change(struct db_conn *c, const struct adm_actor *who, const char *id, db_txn_fn fn, json_t **out)
{
    const struct change_q q = { who, id, adm_config(cfg_get()).web_client_location };
    struct change_out o = { 0 };
    enum adm_inv_status status = ADM_INV_NOT_FOUND;

    *out = NULL;
    if (adm_id_ok(id)) {
        status = db_txn_run(c, "admin_invitation_change", fn, &q, &o) < 0 ? ADM_INV_DB : o.status;
    }
    if (status == ADM_INV_OK || status == ADM_INV_NOT_PENDING || status == ADM_INV_ROOM) {
        *out = o.inv.json;
        o.inv.json = NULL;
    }
    if (status == ADM_INV_OK && fn == resend_txn) {
        mail_wake();
    }
    inv_copy_clear(&o.inv);
    return status;
}

enum adm_inv_status
adm_invitation_resend(struct db_conn *c, const struct adm_actor *who, const char *id, json_t **out)
{
    return change(c, who, id, resend_txn, out);
}

enum adm_inv_status
adm_invitation_revoke(struct db_conn *c, const struct adm_actor *who, const char *id, json_t **out)
{
    return change(c, who, id, revoke_txn, out);
}

/* ---- The list ---- */

struct page {
    json_t *items;
    long limit;
    char *last_id; /* of the limit-th row */
    bool more;
};

static void
page_row(void *arg, const struct adm_invitation *inv)
{
    struct page *p = arg;

    if ((long)json_array_size(p->items) == p->limit) {
        p->more = true; /* the row past the page: there is a next one */
        return;
    }
    json_array_append_new(p->items, invitation_json(inv));
    free(p->last_id);
    p->last_id = xstrdup(inv->id);
}

static bool
one_of(const char *s, const char *const *list)
{
    for (; *list != NULL; list++) {
        if (strcmp(s, *list) == 0) {
            return true;
        }
    }
    return false;
}

enum adm_inv_status
adm_invitation_list(struct db_conn *c,
                    const struct adm_invite_query *in,
                    json_t **out,
                    const char **why)
{
    static const char *const states[] = { "pending", "used", "expired", "revoked", NULL };
    static const char *const kinds[] = { "room", "vip", NULL };
    struct adm_invitation_filter f = { .state = in->state, .kind = in->kind, .before = in->from };
    struct page p = { 0 };
    char *address = NULL;
    enum db_status st;

    *out = NULL;
    *why = NULL;
    f.limit = ADM_PAGE_DEFAULT;
    if (in->limit != NULL) {
        char *end = NULL;
        long v = strtol(in->limit, &end, 10);

        if (strspn(in->limit, "0123456789") != strlen(in->limit) || end == in->limit ||
            *end != '\0' || v < 1 || v > ADM_PAGE_MAX) {
            *why = "limit: from 1 to 500";
            return ADM_INV_BAD_PARAM;
        }
        f.limit = v;
    }
    if (in->state != NULL && !one_of(in->state, states)) {
        *why = "state: pending, used, expired or revoked";
        return ADM_INV_BAD_PARAM;
    }
    if (in->kind != NULL && !one_of(in->kind, kinds)) {
        *why = "kind: room or vip";
        return ADM_INV_BAD_PARAM;
    }
    if (in->from != NULL && !adm_id_ok(in->from)) {
        *why = "from: not a cursor of this list";
        return ADM_INV_BAD_PARAM;
    }
    if (in->address != NULL) {
        if (addr_email_check(in->address, &address, why) != 0) {
            return ADM_INV_BAD_EMAIL;
        }
        f.address = address;
    }
    p.items = json_array();
    p.limit = f.limit;
    f.limit++; /* one more row says whether there is a next page */
    st = adm_store_invitation_list(c, &f, page_row, &p);
    if (st >= 0) {
        *out = json_pack("{s:o}", "invitations", p.items);
        p.items = NULL;
        if (p.more) {
            json_object_set_new(*out, "next", json_string(p.last_id));
        }
    }
    json_decref(p.items);
    free(p.last_id);
    free(address);
    return st < 0 ? ADM_INV_DB : ADM_INV_OK;
}
