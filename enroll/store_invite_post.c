/*
 * POST /_matrix/identity/v2/store-invite and POST /_matrix/identity/api/v1/store-invite:
 * stores a third-party invitation to an e-mail address and mails it, within the policy of who
 * may invite whom and the daily quotas (each refusal, and each invitation, in the audit log);
 * answers the token, the address redacted and the public keys (long-term and ephemeral).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "core/address.h"
#include "core/audit.h"
#include "core/cfg.h"
#include "core/crypto.h"
#include "core/federation.h"
#include "core/http.h"
#include "core/json.h"
#include "core/mail.h"
#include "directory/directory.h"
#include "enroll/internal.h"

struct invite_in {
    const char *medium;
    const char *address;
    const char *room_id;
    const char *sender;
};

/* A room ID goes to the mail and to what `annuaire invite` prints: no control character. */
static bool
room_id_ok(const char *s)
{
    return !util_has_control(s);
}

/* The required fields; the optional ones (room_name, sender_display_name, ...) and any
 * other key go to the mail template as they are. */
static const struct jx_field fields[] = {
    { "medium", JX_STRING, JX_REQUIRED, offsetof(struct invite_in, medium), 1, 16, 0, 0, NULL },
    { "address", JX_STRING, JX_REQUIRED, offsetof(struct invite_in, address), 1, 254, 0, 0, NULL },
    { "room_id", JX_STRING, JX_REQUIRED, offsetof(struct invite_in, room_id), 1, 255, 0, 0,
      room_id_ok },
    { "sender", JX_STRING, JX_REQUIRED, offsetof(struct invite_in, sender), 1, 255, 0, 0,
      enr_mxid_ok },
};
static const struct jx_spec spec = { fields, ANN_ARRAY_LEN(fields), true };

/* "Carol@Example.org" -> "Car...@Exa...": enough for the inviter to recognise it, not
 * enough to harvest addresses. n: characters shown when the part is longer than n. */
static void
redact_part(const char *s, size_t len, long n, char *out, size_t out_size)
{
    size_t keep;

    if ((long)len > n) {
        keep = (size_t)n;
    } else if (len > 5) {
        keep = 3;
    } else if (len > 1) {
        keep = 1;
    } else {
        keep = 0;
    }
    while (keep > 0 && ((unsigned char)s[keep] & 0xc0) == 0x80) {
        keep--; /* never cut a UTF-8 sequence */
    }
    snprintf(out, out_size, "%.*s...", (int)keep, s);
}

char *
enr_redact_address(const char *address, long user_chars, long domain_chars)
{
    const char *at = strchr(address, '@');
    char user[300], domain[300];

    if (at == NULL) {
        redact_part(address, strlen(address), user_chars, user, sizeof(user));
        return xstrdup(user);
    }
    redact_part(address, (size_t)(at - address), user_chars, user, sizeof(user));
    redact_part(at + 1, strlen(at + 1), domain_chars, domain, sizeof(domain));
    return xasprintf("%s@%s", user, domain);
}

struct invite {
    const struct invite_in *in;
    const char *address; /* canonical: what the invite is stored under, and where it is mailed */
    const char *sender_server; /* the sender's server, lower case */
    const char *token;
    const char *ephemeral_public;
    const char *details;     /* JSON text */
    const char *message;     /* the mail */
    const char *verified_by; /* "token" or "legacy" */
};

/* The daily quotas, in the order they are taken. */
enum quota {
    Q_NONE,
    Q_SENDER,
    Q_HOMESERVER,
};

struct invite_out {
    char *bound_to;  /* the mxid when the address is already bound */
    enum quota over; /* the quota this invitation would exceed, or Q_NONE */
    long over_limit; /* that quota's limit */
    char *id;        /* the invitation stored */
};

static void
invite_out_clear(struct invite_out *o)
{
    free(o->bound_to);
    free(o->id);
    *o = (struct invite_out){ 0 };
}

/* An audit entry of this store-invite, by its sender. */
static enum db_status
audit_invite(struct db_conn *c,
             const struct invite *q,
             const char *action,
             const char *id,
             const char *outcome,
             json_t *details)
{
    const struct audit_entry e = {
        .actor_kind = AUDIT_USER,
        .actor = q->in->sender,
        .action = action,
        .object_kind = "invitation",
        .object_id = id,
        .outcome = outcome,
        .details = details,
    };
    enum db_status st;

    json_object_set_new(details, "homeserver", json_string(q->sender_server));
    json_object_set_new(details, "address", json_string(q->address));
    st = audit_record(c, &e);
    json_decref(details);
    return st;
}

/* The subject of a quota in annuaire.invite_quotas: owned. */
static char *
quota_subject(const struct invite *q, enum quota which)
{
    return which == Q_SENDER ? xasprintf("sender:%s", q->in->sender)
                             : xasprintf("server:%s", q->sender_server);
}

/* Counts this invitation in the sender's and its homeserver's quotas of the day (0: no
 * limit), atomically: a quota that is full counts nothing, and a full homeserver quota
 * gives back what the sender's counted. @return 1 counted (o->over when a quota is full),
 * DB_SOFT or DB_HARD */
static enum db_status
take_quotas(struct db_conn *c, const struct invite *q, struct invite_out *o)
{
    const struct cfg_invites *conf = &cfg_get()->invites;
    const long limits[] = {
        [Q_SENDER] = conf->daily_per_sender, [Q_HOMESERVER] = conf->daily_per_homeserver
    };
    enum quota taken = Q_NONE;
    enum db_status st = 1;

    for (enum quota which = Q_SENDER; st > 0 && which <= Q_HOMESERVER; which++) {
        char *subject;

        if (limits[which] == 0) {
            continue;
        }
        subject = quota_subject(q, which);
        st = enr_store_quota_take(c, subject, limits[which]);
        free(subject);
        if (st == DB_NO_ROWS) {
            o->over = which;
            o->over_limit = limits[which];
        } else if (st > 0) {
            taken = which;
        }
    }
    if (st == DB_NO_ROWS && taken == Q_SENDER) {
        char *subject = quota_subject(q, Q_SENDER);

        st = enr_store_quota_release(c, subject);
        free(subject);
    }
    return st < 0 ? st : 1;
}

/* Within the day's quotas: stored (pending, expiring after invites.validity), its mail
 * queued and invitation.created written; over a quota: only invitation.over_quota. */
static enum db_status
invite_txn(struct db_conn *c, const void *in, void *out)
{
    const struct invite *q = in;
    struct invite_out *o = out;
    struct dir_assoc a = { 0 };
    const struct enr_invite_row row = {
        .token = q->token,
        .medium = "email",
        .address = q->address,
        .room_id = q->in->room_id,
        .sender = q->in->sender,
        .sender_server = q->sender_server,
        .ephemeral_public_key = q->ephemeral_public,
        .details = q->details,
        .verified_by = q->verified_by,
        .validity = cfg_get()->invites.validity,
    };
    enum db_status st = dir_assoc_get(c, "email", q->address, &a);

    invite_out_clear(o);
    if (st < 0) {
        return st;
    }
    if (st > 0) {
        o->bound_to = xstrdup(a.mxid);
        dir_assoc_clear(&a);
        return 1;
    }
    st = take_quotas(c, q, o);
    if (st > 0 && o->over != Q_NONE) {
        return audit_invite(c, q, "invitation.over_quota", NULL, AUDIT_REFUSED,
                            json_pack("{s:s, s:I}", "quota",
                                      o->over == Q_SENDER ? "invites.daily_per_sender"
                                                          : "invites.daily_per_homeserver",
                                      "limit", (json_int_t)o->over_limit));
    }
    if (st > 0) {
        st = enr_store_invite_insert(c, &row, &o->id);
    }
    if (st > 0) {
        st = mail_queue_invite(c, q->address, "invite", q->message, o->id);
    }
    if (st > 0) {
        st = audit_invite(
            c, q, "invitation.created", o->id, AUDIT_OK,
            json_pack("{s:s, s:s}", "room_id", q->in->room_id, "verified_by", q->verified_by));
    }
    return st;
}

/* A store-invite refused by policy, and the rule that refused it. */
struct refusal {
    const struct invite *q;
    enum dir_invite_rule rule;
};

/* Refused by policy: invitation.refused, and nothing else. */
static enum db_status
refused_txn(struct db_conn *c, const void *in, void *out)
{
    const struct refusal *f = in;

    (void)out;
    return audit_invite(c, f->q, "invitation.refused", NULL, AUDIT_REFUSED,
                        json_pack("{s:s}", "rule", dir_invite_rule_name(f->rule)));
}

/* The answer to a refusal by policy, once it is in the audit log. */
static int
reply_refused(struct http_req *r, const struct invite *q, enum dir_invite_rule rule)
{
    static const enum err_code codes[] = {
        [DIR_INVITE_NO_ROUTE] = E_INVITE_NO_ROUTE,
        [DIR_INVITE_AGENTS_EXTERNALS] = E_INVITE_AGENTS_EXTERNALS,
        [DIR_INVITE_EXTERNALS_EXTERNALS] = E_INVITE_EXTERNALS_EXTERNALS,
    };
    const struct refusal f = { q, rule };

    if (db_txn_run(r->db, "store_invite_refused", refused_txn, &f, NULL) < 0) {
        return http_reply_ec(r, E_DB_UNAVAILABLE, NULL);
    }
    return http_reply_ec(r, codes[rule], NULL);
}

/* 429 until the next UTC midnight, when the quotas start again. */
static int
reply_over_quota(struct http_req *r, const struct invite_out *o)
{
    const long long day_ms = 86400000LL;
    struct timespec ts;
    long long left;
    char detail[96];

    clock_gettime(CLOCK_REALTIME, &ts);
    left = day_ms - ((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000) % day_ms;
    snprintf(detail, sizeof(detail), "%s (%ld a day)",
             o->over == Q_SENDER ? "per sender" : "per homeserver", o->over_limit);
    return http_reply_ec_extra(r, E_INVITE_OVER_QUOTA, detail,
                               json_pack("{s:I}", "retry_after_ms", (json_int_t)left));
}

/* The fields of the request a mail shows (key in the request, as cleaned by field_value). */
enum shown {
    F_ROOM_NAME,
    F_ROOM_ALIAS,
    F_SENDER_NAME,
    F_WEB,
    F_ROOM_AVATAR,
    F_ROOM_TYPE,
    F_JOIN_RULES,
    F_SENDER_AVATAR,
    F_GUEST_ACCESS,
    F__COUNT
};
static const char *const shown_keys[F__COUNT] = {
    [F_ROOM_NAME] = "room_name",
    [F_ROOM_ALIAS] = "room_alias",
    [F_SENDER_NAME] = "sender_display_name",
    [F_WEB] = "org.matrix.web_client_location",
    [F_ROOM_AVATAR] = "room_avatar_url",
    [F_ROOM_TYPE] = "room_type",
    [F_JOIN_RULES] = "room_join_rules",
    [F_SENDER_AVATAR] = "sender_avatar_url",
    [F_GUEST_ACCESS] = "guest_access",
};

/* Longest a field is shown: a mail's lines stay within SMTP's 998 octets. */
#define SHOWN_MAX 512

/*
 * A string field of the request as a mail variable: "" when absent or not a string;
 * a line break or any other control character (C0, DEL, C1, U+2028, U+2029) becomes a
 * space, since one would end a header or show a line that is not there; cut to
 * SHOWN_MAX bytes on a character boundary.
 */
static char *
field_value(const json_t *body, const char *key)
{
    const json_t *j = json_object_get(body, key);
    const unsigned char *r = (const unsigned char *)(json_is_string(j) ? json_string_value(j) : "");
    char *v = xmalloc(strlen((const char *)r) + 1);
    char *w = v;

    while (*r != '\0') {
        size_t n = *r < 0x80 ? 1 : *r < 0xe0 ? 2 : *r < 0xf0 ? 3 : 4; /* jansson: valid UTF-8 */

        if ((size_t)(w - v) + n > SHOWN_MAX) {
            break;
        }
        if (*r < 0x20 || *r == 0x7f || (r[0] == 0xc2 && r[1] >= 0x80 && r[1] <= 0x9f) ||
            (r[0] == 0xe2 && r[1] == 0x80 && (r[2] == 0xa8 || r[2] == 0xa9))) {
            *w++ = ' ';
        } else {
            memcpy(w, r, n);
            w += n;
        }
        r += n;
    }
    *w = '\0';
    return v;
}

static char *
render(const struct invite *q,
       const json_t *body,
       const char *ephemeral_private,
       enum enr_lang lang)
{
    const struct cfg *cfg = cfg_get();
    char *f[F__COUNT];
    char *from_addr = mail_address_of(cfg->mail.from);
    const char *domain = from_addr ? strchr(from_addr, '@') : NULL;

    for (size_t i = 0; i < F__COUNT; i++) {
        f[i] = field_value(body, shown_keys[i]);
    }
    const char *room_name = *f[F_ROOM_NAME]    ? f[F_ROOM_NAME]
                            : *f[F_ROOM_ALIAS] ? f[F_ROOM_ALIAS]
                                               : q->in->room_id;
    const struct util_var vars[] = {
        { "from", cfg->mail.from },
        { "to", q->address },
        { "address", q->address },
        { "brand", cfg->mail.brand },
        { "room_id", q->in->room_id },
        { "room_name", room_name },
        { "room_alias", f[F_ROOM_ALIAS] },
        { "room_avatar_url", f[F_ROOM_AVATAR] },
        { "room_type", f[F_ROOM_TYPE] },
        { "room_join_rules", f[F_JOIN_RULES] },
        { "sender", q->in->sender },
        { "sender_display_name", *f[F_SENDER_NAME] ? f[F_SENDER_NAME] : q->in->sender },
        { "sender_avatar_url", f[F_SENDER_AVATAR] },
        { "guest_access", f[F_GUEST_ACCESS] },
        { "web_client_location", f[F_WEB] },
        { "token", q->token },
        { "ephemeral_private_key", ephemeral_private },
    };
    char *msg;

    msg = mail_render(enr_template(ENR_TPL_INVITE, lang), vars, ANN_ARRAY_LEN(vars),
                      domain ? domain + 1 : NULL);
    for (size_t i = 0; i < F__COUNT; i++) {
        free(f[i]);
    }
    free(from_addr);
    return msg;
}

/* Whether this caller may invite as in->sender: the token's own user (v2), or a user
 * of the listed homeserver the call comes from (v1); and the sender's server must be a
 * homeserver of the routing. @return RS_OK when it may, else the refusal's status */
static enum reply_status
sender_check(struct http_req *r, const struct invite_in *in, bool legacy)
{
    if (legacy) {
        enum reply_status rs = enr_legacy_check(r, in->sender);

        if (rs != RS_OK) {
            return rs;
        }
    } else if (r->user_id == NULL || strcmp(in->sender, r->user_id) != 0) {
        return http_reply_status(http_reply_ec(r, E_INVITE_SENDER_MISMATCH, NULL));
    }
    if (!dir_server_known(fed_mxid_server(in->sender))) {
        return http_reply_status(http_reply_ec(r, E_INVITE_SENDER_UNKNOWN_HS, NULL));
    }
    return RS_OK;
}

/* A server name in lower case (owned), as quotas and the invitation keep it. */
static char *
lower_dup(const char *s)
{
    char *out = xstrdup(s != NULL ? s : "");

    for (char *p = out; *p != '\0'; p++) {
        *p = (char)tolower((unsigned char)*p);
    }
    return out;
}

static int
store_invite(struct http_req *r, const json_t *body, bool legacy)
{
    struct invite_in in = { 0 };
    enum reply_status rs;
    const struct cfg *cfg = cfg_get();
    unsigned char seed[CX_ED25519_SEED_LEN];
    struct cx_ed25519 *eph = NULL;
    struct invite q = { .in = &in };
    struct invite_out out = { 0 };
    char *address = NULL, *token = NULL, *eph_pub = NULL, *eph_priv = NULL;
    char *details = NULL, *message = NULL, *display = NULL;
    char *base = NULL, *sender_server = NULL;
    const char *why = NULL;
    enum dir_invite_rule rule;
    json_t *copy = NULL;
    int ret;

    if (legacy && !enr_legacy_enabled()) {
        return http_reply_ec(r, E_LEGACY_DISABLED, NULL);
    }
    rs = http_unpack(r, body, &spec, &in);
    if (rs != RS_OK) {
        return rs == RS_REPLIED ? MHD_YES : MHD_NO;
    }
    /* Only an authenticated sender's invitation opens the enrollment gate and has its
     * mail sent from our address. */
    rs = sender_check(r, &in, legacy);
    if (rs != RS_OK) {
        return rs == RS_REPLIED ? MHD_YES : MHD_NO;
    }
    if (strcmp(in.medium, "email") != 0) {
        return http_reply_ec(r, E_MEDIUM_UNRECOGNIZED, in.medium);
    }
    if (addr_email_check(in.address, &address, &why) != 0) {
        return http_reply_ec(r, E_INVALID_EMAIL, why);
    }
    sender_server = lower_dup(fed_mxid_server(in.sender));
    q.address = address;
    q.sender_server = sender_server;
    /* The rate limits first: a refusal costs an audit row, so refusals are limited too. */
    rs = enr_limit_mail(r, address);
    if (rs != RS_OK) {
        free(sender_server);
        free(address);
        return rs == RS_REPLIED ? MHD_YES : MHD_NO;
    }
    /* Who may invite whom: refused by policy, nothing is stored or sent. */
    rule = dir_invite_policy(address, sender_server);
    if (rule != DIR_INVITE_OK) {
        ret = reply_refused(r, &q, rule);
        free(sender_server);
        free(address);
        return ret;
    }
    eph = cx_ed25519_generate(seed);
    if (eph == NULL) {
        free(sender_server);
        free(address);
        return http_reply_ec(r, E_INTERNAL, NULL);
    }
    token = cx_random_token(32);
    eph_pub = cx_b64_encode(cx_ed25519_public(eph), CX_ED25519_PUB_LEN, CX_B64_STD);
    eph_priv = cx_b64_encode(seed, sizeof(seed), CX_B64_STD);
    OPENSSL_cleanse(seed, sizeof(seed));
    copy = json_deep_copy(body);
    details = json_dumps(copy, JSON_COMPACT);
    q.token = token;
    q.ephemeral_public = eph_pub;
    q.details = details;
    q.verified_by = legacy ? "legacy" : "token";
    message = render(&q, body, eph_priv, enr_lang_pick(http_header(r, "Accept-Language")));
    q.message = message;
    /* READ COMMITTED: the daily counters are hot rows every invitation of a sender or
     * homeserver takes (one atomic upsert each); SERIALIZABLE would fail concurrent
     * invitations instead of queueing them on the row. */
    if (message == NULL) {
        ret = http_reply_ec(r, E_EMAIL_SEND_ERROR, NULL);
    } else if (db_txn_run_committed(r->db, "store_invite", invite_txn, &q, &out) < 0) {
        ret = http_reply_ec(r, E_DB_UNAVAILABLE, NULL);
    } else if (out.bound_to != NULL) {
        ret = http_reply_ec_extra(r, E_THREEPID_IN_USE, NULL,
                                  json_pack("{s:s}", "mxid", out.bound_to));
    } else if (out.over != Q_NONE) {
        ret = reply_over_quota(r, &out);
    } else {
        mail_wake();
        base = xstrdup(cfg->server.public_base_url);
        display = enr_redact_address(in.address, cfg->invites.display_user_chars,
                                     cfg->invites.display_domain_chars);
        ret = http_reply_json(
            r, MHD_HTTP_OK,
            json_pack("{s:s, s:s, s:s, s:[{s:s, s:s+}, {s:s, s:s+}]}", "token", token,
                      "display_name", display, "public_key", dir_public_key_b64(), "public_keys",
                      "public_key", dir_public_key_b64(), "key_validity_url", base,
                      "/_matrix/identity/v2/pubkey/isvalid", "public_key", eph_pub,
                      "key_validity_url", base, "/_matrix/identity/v2/pubkey/ephemeral/isvalid"));
    }
    if (message != NULL) {
        OPENSSL_cleanse(message, strlen(message));
    }
    OPENSSL_cleanse(eph_priv, strlen(eph_priv));
    json_decref(copy);
    invite_out_clear(&out);
    free(base);
    free(display);
    free(message);
    free(details);
    free(eph_priv);
    free(eph_pub);
    free(token);
    free(sender_server);
    free(address);
    cx_ed25519_free(eph);
    return ret;
}

int
enr_store_invite_post(struct http_req *r, const json_t *body)
{
    return store_invite(r, body, false);
}

int
enr_store_invite_v1_post(struct http_req *r, const json_t *body)
{
    return store_invite(r, body, true);
}
