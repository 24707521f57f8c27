/*
 * Reading an LDAP directory: connection and bind (StartTLS, CA file, password from a file or
 * the environment), paged searches of every base DN handing entries to the sink as they
 * arrive, RFC 4533 content synchronisation (refreshOnly), and the change-polling filter.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <lber.h>
#include <ldap.h>
#include <openssl/crypto.h>

#include "core/cfg.h"
#include "ldap-sync/internal.h"

#define MAX_ATTRS 64

/* Sets what libldap would otherwise take from ldap.conf or LDAP* variables. */
static int
set_options(LDAP *ld, const struct lsync_ldap *conf, char *err, size_t err_size)
{
    int version = LDAP_VERSION3;
    int demand = LDAP_OPT_X_TLS_DEMAND;
    int zero = 0;
    struct timeval net = { conf->connect_timeout, 0 };
    struct timeval op = { conf->timeout, 0 };

    if (ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version) != LDAP_OPT_SUCCESS ||
        ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF) != LDAP_OPT_SUCCESS ||
        ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &net) != LDAP_OPT_SUCCESS ||
        /* Without this a server that accepts and never answers blocks us forever. */
        ldap_set_option(ld, LDAP_OPT_TIMEOUT, &op) != LDAP_OPT_SUCCESS ||
        ldap_set_option(ld, LDAP_OPT_SIZELIMIT, &zero) != LDAP_OPT_SUCCESS ||
        ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand) != LDAP_OPT_SUCCESS ||
        (conf->ca_file != NULL &&
         ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, conf->ca_file) != LDAP_OPT_SUCCESS) ||
        /* Per-handle TLS settings only apply to a new TLS context. */
        ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &zero) != LDAP_OPT_SUCCESS) {
        snprintf(err, err_size, "cannot set the LDAP options");
        return -1;
    }
    return 0;
}

/* The bind password, from a file or an environment variable; NULL for an anonymous bind. */
static int
read_password(const struct lsync_ldap *conf, char **out, char *err, size_t err_size)
{
    size_t len = 0;

    *out = NULL;
    if (conf->password_file != NULL) {
        if (cfg_read_secret(conf->password_file, 4096, out, &len) != 0) {
            snprintf(err, err_size, "cannot read bind_password_file %s: %s", conf->password_file,
                     cfg_secret_error(errno));
            return -1;
        }
    } else if (conf->password_env != NULL) {
        const char *v = getenv(conf->password_env);

        if (v == NULL) {
            snprintf(err, err_size, "bind_password_env: %s is not set", conf->password_env);
            return -1;
        }
        *out = xstrdup(v);
    }
    return 0;
}

static LDAP *
connect_bind(const struct lsync_ldap *conf, char *err, size_t err_size)
{
    struct util_buf urls = { 0 };
    char *password = NULL;
    LDAP *ld = NULL;
    int rc;

    for (size_t i = 0; i < conf->n_urls; i++) {
        util_buf_printf(&urls, "%s%s", i ? " " : "", conf->urls[i]); /* tried in turn */
    }
    rc = ldap_initialize(&ld, urls.p);
    free(urls.p);
    if (rc != LDAP_SUCCESS || set_options(ld, conf, err, err_size) != 0) {
        if (rc != LDAP_SUCCESS) {
            snprintf(err, err_size, "bad LDAP URL: %s", ldap_err2string(rc));
        }
        goto fail;
    }
    if (conf->starttls && (rc = ldap_start_tls_s(ld, NULL, NULL)) != LDAP_SUCCESS) {
        snprintf(err, err_size, "StartTLS failed: %s", ldap_err2string(rc));
        goto fail;
    }
    if (read_password(conf, &password, err, err_size) != 0) {
        goto fail;
    }
    {
        struct berval cred = { password ? strlen(password) : 0, password };

        rc = ldap_sasl_bind_s(ld, conf->bind_dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
    }
    if (password != NULL) {
        OPENSSL_cleanse(password, strlen(password));
        free(password);
    }
    if (rc != LDAP_SUCCESS) {
        snprintf(err, err_size, "bind as %s failed: %s",
                 conf->bind_dn ? conf->bind_dn : "anonymous", ldap_err2string(rc));
        goto fail;
    }
    return ld;
fail:
    if (ld != NULL) {
        ldap_unbind_ext_s(ld, NULL, NULL);
    }
    return NULL;
}

/* Over plain TCP libldap reads each message in two system calls and polls in between; a
 * read-ahead layer (as libldap itself uses over UDP) takes in many messages per read.
 * Both readers take messages one at a time (LDAP_MSG_ONE), so nothing depends on how
 * many arrive together. TLS reads whole records already. */
static void
read_ahead(LDAP *ld)
{
    Sockbuf *sb = NULL;

    if (!ldap_tls_inplace(ld) && ldap_get_option(ld, LDAP_OPT_SOCKBUF, &sb) == LDAP_OPT_SUCCESS &&
        sb != NULL) {
        ber_sockbuf_add_io(sb, &ber_sockbuf_io_readahead, LBER_SBIOD_LEVEL_PROVIDER, NULL);
    }
}

/* The attributes to ask for: the mapped ones and the key (operational, never implied). */
static size_t
wanted_attributes(const struct lsync_attrs *m, char **out, size_t max)
{
    const char *all[] = { m->key,    m->display_name, m->given_name, m->surname, m->title,
                          m->mobile, m->hidden,       m->disabled,   m->poll };
    size_t n = 0;

    for (size_t i = 0; i < ANN_ARRAY_LEN(all) && n < max - 1; i++) {
        if (all[i] != NULL && strcasecmp(all[i], "dn") != 0) {
            out[n++] = (char *)all[i];
        }
    }
    for (size_t i = 0; i < m->n_mail && n < max - 1; i++) {
        out[n++] = (char *)m->mail[i];
    }
    for (size_t i = 0; i < m->n_entity && n < max - 1; i++) {
        out[n++] = (char *)m->entity[i];
    }
    out[n] = NULL;
    return n;
}

/* Hands one entry message to the sink. One pass over the entry: the DN and each
 * attribute with its values point into the message (ldap_get_values_len would scan
 * the entry again for every attribute). @return 0 or -1 */
static int
deliver_entry(LDAP *ld,
              LDAPMessage *e,
              const char *key,
              struct lsync_sink *sink,
              char *err,
              size_t err_size)
{
    struct lsync_attr attrs[MAX_ATTRS];
    struct berval *vals[MAX_ATTRS];
    struct berval name[MAX_ATTRS];
    struct berval dn = { 0, NULL };
    BerElement *ber = NULL;
    size_t n = 0, n_ptrs = 0, n_chars = dn.bv_len + 1;
    const struct berval **ptrs;
    char *chars, *dn_text;
    int rc;

    if (ldap_get_dn_ber(ld, e, &ber, &dn) != LDAP_SUCCESS) {
        ber_free(ber, 0);
        snprintf(err, err_size, "a malformed entry from the server (no DN)");
        return -1;
    }
    n_chars = dn.bv_len + 1;
    /* A partly decoded entry is not passed on as a whole one: a change would lose values. */
    for (;;) {
        struct berval attr;
        struct berval *values = NULL;

        if (ldap_get_attribute_ber(ld, e, ber, &attr, &values) != LDAP_SUCCESS ||
            (attr.bv_val != NULL && n == MAX_ATTRS)) {
            ber_memfree(values);
            for (size_t i = 0; i < n; i++) {
                ber_memfree(vals[i]);
            }
            snprintf(err, err_size, "%.*s: %s", (int)(dn.bv_len < 200 ? dn.bv_len : 200),
                     dn.bv_val ? dn.bv_val : "",
                     n == MAX_ATTRS ? "more attributes than asked for" : "a malformed entry");
            ber_free(ber, 0);
            return -1;
        }
        if (attr.bv_val == NULL) {
            break;
        }
        name[n] = attr;
        vals[n] = values;
        for (size_t v = 0; vals[n] != NULL && vals[n][v].bv_val != NULL; v++) {
            n_ptrs++;
        }
        n_ptrs++;
        n_chars += name[n].bv_len + 1;
        n++;
    }
    /* One block for the value pointers and the NUL-terminated names and DN. */
    ptrs = xmalloc(n_ptrs * sizeof(*ptrs) + n_chars);
    chars = (char *)(ptrs + n_ptrs);
    dn_text = chars;
    memcpy(chars, dn.bv_val, dn.bv_len);
    chars[dn.bv_len] = '\0';
    chars += dn.bv_len + 1;
    for (size_t i = 0, p = 0; i < n; i++) {
        memcpy(chars, name[i].bv_val, name[i].bv_len);
        chars[name[i].bv_len] = '\0';
        attrs[i].name = chars;
        chars += name[i].bv_len + 1;
        attrs[i].values = (const struct berval *const *)&ptrs[p];
        for (size_t v = 0; vals[i] != NULL && vals[i][v].bv_val != NULL; v++) {
            ptrs[p++] = &vals[i][v];
        }
        ptrs[p++] = NULL;
    }
    rc = sink->entry(sink->ctx, dn_text, key, attrs, n);
    for (size_t i = 0; i < n; i++) {
        ber_memfree(vals[i]);
    }
    free(ptrs);
    ber_free(ber, 0);
    return rc != 0 ? -1 : 0;
}

/* The next message of search msgid, one at a time. A server silent for conf->timeout
 * seconds, or a lost connection, abandons the search. @return its type, or -1 (err set) */
static int
next_message(LDAP *ld,
             const struct lsync_ldap *conf,
             int msgid,
             const char *what,
             const char *base,
             LDAPMessage **msg,
             char *err,
             size_t err_size)
{
    struct timeval wait = { conf->timeout, 0 };
    int rc = ldap_result(ld, msgid, LDAP_MSG_ONE, &wait, msg);

    if (rc <= 0) {
        int code = LDAP_TIMEOUT;

        if (rc < 0) {
            ldap_get_option(ld, LDAP_OPT_RESULT_CODE, &code);
        }
        snprintf(err, err_size, "%s of %s failed: %s", what, base,
                 rc == 0 ? "no answer within the timeout" : ldap_err2string(code));
        ldap_msgfree(*msg);
        *msg = NULL;
        ldap_abandon_ext(ld, msgid, NULL, NULL);
        return -1;
    }
    return rc;
}

/* Runs one page of a search, handing each entry to the sink as it arrives (the server
 * goes on sending while the sink works), and returns the final result message in *out.
 * A server silent for conf->timeout seconds fails the read. @return 0 or -1 (err set) */
static int
search_page(LDAP *ld,
            const struct lsync_ldap *conf,
            const char *base,
            const char *filter,
            char **attrs,
            LDAPControl **sctrls,
            struct lsync_sink *sink,
            LDAPMessage **out,
            char *err,
            size_t err_size)
{
    struct timeval limit = { conf->timeout, 0 };
    int msgid;
    int rc =
        ldap_search_ext(ld, base, conf->scope, filter, attrs, 0, sctrls, NULL, &limit, 0, &msgid);

    *out = NULL;
    if (rc != LDAP_SUCCESS) {
        snprintf(err, err_size, "search of %s failed: %s", base, ldap_err2string(rc));
        return -1;
    }
    for (;;) {
        LDAPMessage *msg = NULL;

        rc = next_message(ld, conf, msgid, "search", base, &msg, err, err_size);
        if (rc < 0) {
            return -1;
        }
        if (rc == LDAP_RES_SEARCH_RESULT) {
            *out = msg;
            return 0;
        }
        if (rc == LDAP_RES_SEARCH_ENTRY && deliver_entry(ld, msg, NULL, sink, err, err_size) != 0) {
            ldap_msgfree(msg);
            ldap_abandon_ext(ld, msgid, NULL, NULL);
            return -1;
        }
        ldap_msgfree(msg); /* entries delivered, references not followed */
    }
}

/* Every page of one base DN. Anything but success with an empty cookie is a failed read. */
static int
read_base(LDAP *ld,
          const struct lsync_ldap *conf,
          const char *base,
          const char *filter,
          char **attrs,
          struct lsync_sink *sink,
          char *err,
          size_t err_size)
{
    struct berval cookie = { 0, NULL };
    int ret = -1;

    do {
        LDAPControl *page = NULL;
        LDAPControl *sctrls[2] = { NULL, NULL };
        LDAPControl **rctrls = NULL;
        LDAPControl *resp;
        LDAPMessage *res = NULL;
        ber_int_t estimate = 0;
        int rc;
        int code = 0;
        char *msg = NULL;

        if (ldap_create_page_control(ld, conf->page_size, &cookie, 1, &page) != LDAP_SUCCESS) {
            snprintf(err, err_size, "cannot create the paged results control");
            goto done;
        }
        sctrls[0] = page;
        rc = search_page(ld, conf, base, filter, attrs, sctrls, sink, &res, err, err_size);
        ldap_control_free(page);
        if (rc != 0) {
            goto done;
        }
        rc = ldap_parse_result(ld, res, &code, NULL, &msg, NULL, &rctrls, 1);
        if (rc != LDAP_SUCCESS || code != LDAP_SUCCESS) {
            snprintf(err, err_size, "search of %s ended with: %s", base,
                     ldap_err2string(rc != LDAP_SUCCESS ? rc : code));
            ldap_memfree(msg);
            ldap_controls_free(rctrls);
            goto done;
        }
        ldap_memfree(msg);
        ber_memfree(cookie.bv_val);
        cookie.bv_val = NULL;
        cookie.bv_len = 0;
        resp = ldap_control_find(LDAP_CONTROL_PAGEDRESULTS, rctrls, NULL);
        if (resp == NULL ||
            ldap_parse_pageresponse_control(ld, resp, &estimate, &cookie) != LDAP_SUCCESS) {
            snprintf(err, err_size, "the server of %s does not page its results", base);
            ldap_controls_free(rctrls);
            goto done;
        }
        ldap_controls_free(rctrls);
    } while (cookie.bv_len > 0);
    ret = 0;
done:
    ber_memfree(cookie.bv_val);
    return ret;
}

int
lsync_read_ldap(const struct lsync_ldap *conf,
                const char *extra_filter,
                const struct lsync_attrs *map,
                struct lsync_sink *sink,
                char *err,
                size_t err_size)
{
    char *attrs[LSYNC_MAX_MAIL_ATTRS + LSYNC_MAX_ENTITY_ATTRS + 12];
    char *filter =
        extra_filter ? xasprintf("(&%s%s)", conf->filter, extra_filter) : xstrdup(conf->filter);
    LDAP *ld;
    int ret = 0;

    setenv("LDAPNOINIT", "1", 1); /* no ldap.conf, ~/.ldaprc or LDAP* variables */
    ld = connect_bind(conf, err, err_size);
    if (ld == NULL) {
        free(filter);
        return -1;
    }
    read_ahead(ld);
    wanted_attributes(map, attrs, ANN_ARRAY_LEN(attrs));
    for (size_t i = 0; i < conf->n_bases && ret == 0; i++) {
        ret = read_base(ld, conf, conf->bases[i], filter, attrs, sink, err, err_size);
    }
    ldap_unbind_ext_s(ld, NULL, NULL);
    free(filter);
    return ret;
}

/* --- RFC 4533 content synchronisation (refreshOnly) ------------------------ */

/*
 * Read here rather than with libldap's ldap_sync_*: its loop takes the messages that
 * have arrived as one chain and hands the chain's first message to every callback,
 * which loses entries as soon as two arrive together (over TLS, or with the
 * read-ahead layer this reader uses too). Messages are taken one at a time.
 */
struct csync {
    struct lsync_sink *sink;
    struct berval cookie; /* the newest the server gave (owned), or empty */
    bool sent_cookie;     /* the request carried one */
    bool delete_mode;     /* the server listed deletions (refreshDeletes) */
    bool present_phase;   /* a present phase ended (refreshPresent): absent keys are gone */
};

/* entryUUID as the directory writes it: 8-4-4-4-12 lower-case hex. */
static int
uuid_text(const struct berval *uuid, char out[37])
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;

    if (uuid == NULL || uuid->bv_len != 16) {
        return -1;
    }
    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            out[o++] = '-';
        }
        out[o++] = hex[(unsigned char)uuid->bv_val[i] >> 4];
        out[o++] = hex[(unsigned char)uuid->bv_val[i] & 15];
    }
    out[o] = '\0';
    return 0;
}

static void
keep_cookie(struct csync *cs, const struct berval *cookie)
{
    if (cookie->bv_val != NULL && cookie->bv_len > 0) {
        ber_memfree(cs->cookie.bv_val);
        ber_dupbv(&cs->cookie, (struct berval *)cookie);
    }
}

/* An entry with its Sync State control: added or changed (with its attributes),
 * present (unchanged) or deleted (its key only). @return 0 or -1 */
static int
sync_entry(LDAP *ld, LDAPMessage *msg, struct csync *cs, char *err, size_t err_size)
{
    LDAPControl **ctrls = NULL, *state_ctrl;
    BerElement *ber = NULL;
    struct berval uuid = { 0, NULL }, cookie = { 0, NULL };
    ber_int_t state = -1;
    ber_len_t len;
    char key[37];
    int rc = -1;

    if (ldap_get_entry_controls(ld, msg, &ctrls) != LDAP_SUCCESS ||
        (state_ctrl = ldap_control_find(LDAP_CONTROL_SYNC_STATE, ctrls, NULL)) == NULL) {
        snprintf(err, err_size, "an entry without its sync state control");
        goto done;
    }
    ber = ber_init(&state_ctrl->ldctl_value);
    if (ber == NULL || ber_scanf(ber, "{em", &state, &uuid) == LBER_ERROR ||
        (ber_peek_tag(ber, &len) == LDAP_TAG_SYNC_COOKIE &&
         ber_scanf(ber, "m", &cookie) == LBER_ERROR) ||
        uuid_text(&uuid, key) != 0) {
        snprintf(err, err_size, "a malformed sync state control");
        goto done;
    }
    switch (state) {
    case LDAP_SYNC_ADD:
    case LDAP_SYNC_MODIFY:
        rc = deliver_entry(ld, msg, key, cs->sink, err, err_size);
        break;
    case LDAP_SYNC_PRESENT:
        rc = cs->sink->key(cs->sink->ctx, 'p', key);
        break;
    case LDAP_SYNC_DELETE:
        rc = cs->sink->key(cs->sink->ctx, 'd', key);
        break;
    default:
        snprintf(err, err_size, "an unknown sync state %d", (int)state);
        goto done;
    }
    keep_cookie(cs, &cookie);
done:
    ber_free(ber, 1);
    ldap_controls_free(ctrls);
    return rc;
}

/* A Sync Info message: a new cookie, the end of a phase, or a set of UUIDs present or
 * deleted. @return 0 or -1 */
static int
sync_info(LDAP *ld, LDAPMessage *msg, struct csync *cs, char *err, size_t err_size)
{
    char *oid = NULL;
    struct berval *data = NULL, cookie = { 0, NULL };
    BerElement *ber = NULL;
    BerVarray uuids = NULL;
    ber_int_t deletes = 0;
    ber_len_t len;
    ber_tag_t tag;
    int rc = -1;

    if (ldap_parse_intermediate(ld, msg, &oid, &data, NULL, 0) != LDAP_SUCCESS || oid == NULL) {
        goto malformed;
    }
    if (strcmp(oid, LDAP_SYNC_INFO) != 0) {
        rc = 0; /* another intermediate response: not ours */
        goto done;
    }
    if (data == NULL) {
        goto malformed;
    }
    ber = ber_init(data);
    if (ber == NULL) {
        goto malformed;
    }
    tag = ber_peek_tag(ber, &len);
    if (tag == LDAP_TAG_SYNC_NEW_COOKIE) {
        if (ber_scanf(ber, "m", &cookie) == LBER_ERROR) {
            goto malformed;
        }
    } else if (tag == LDAP_TAG_SYNC_REFRESH_DELETE || tag == LDAP_TAG_SYNC_REFRESH_PRESENT ||
               tag == LDAP_TAG_SYNC_ID_SET) {
        if (ber_scanf(ber, "{") == LBER_ERROR || (ber_peek_tag(ber, &len) == LDAP_TAG_SYNC_COOKIE &&
                                                  ber_scanf(ber, "m", &cookie) == LBER_ERROR)) {
            goto malformed;
        }
        if (tag == LDAP_TAG_SYNC_REFRESH_PRESENT) {
            /* The end of a present phase: what it did not list is gone, even if a
             * delete phase follows. */
            cs->present_phase = true;
        }
        if (tag == LDAP_TAG_SYNC_ID_SET) {
            if ((ber_peek_tag(ber, &len) == LDAP_TAG_REFRESHDELETES &&
                 ber_scanf(ber, "b", &deletes) == LBER_ERROR) ||
                ber_scanf(ber, "[W]", &uuids) == LBER_ERROR) {
                goto malformed;
            }
            for (size_t i = 0; uuids != NULL && uuids[i].bv_val != NULL; i++) {
                char key[37];

                if (uuid_text(&uuids[i], key) != 0) {
                    goto malformed;
                }
                if (cs->sink->key(cs->sink->ctx, deletes ? 'd' : 'p', key) != 0) {
                    goto done;
                }
            }
        }
    } else {
        goto malformed;
    }
    keep_cookie(cs, &cookie);
    rc = 0;
    goto done;
malformed:
    snprintf(err, err_size, "a malformed sync info message");
done:
    ber_free(ber, 1);
    ber_bvarray_free(uuids);
    ber_memfree(oid);
    ber_bvfree(data);
    return rc;
}

/* The final result: success with its Sync Done control (cookie, refreshDeletes), or
 * e-syncRefreshRequired. @return 0, LSYNC_REFRESH_REQUIRED or -1 */
static int
sync_done(LDAP *ld,
          LDAPMessage *msg,
          struct csync *cs,
          const char *base,
          char *err,
          size_t err_size)
{
    LDAPControl **ctrls = NULL, *done_ctrl;
    BerElement *ber = NULL;
    struct berval cookie = { 0, NULL };
    ber_int_t deletes = 0;
    ber_len_t len;
    char *text = NULL;
    int code = 0, rc;

    rc = ldap_parse_result(ld, msg, &code, NULL, &text, NULL, &ctrls, 0);
    if (rc != LDAP_SUCCESS || code != LDAP_SUCCESS) {
        if (rc == LDAP_SUCCESS && code == LDAP_SYNC_REFRESH_REQUIRED && cs->sent_cookie) {
            snprintf(err, err_size, "the server of %s asks for a full refresh", base);
            rc = LSYNC_REFRESH_REQUIRED;
        } else {
            snprintf(err, err_size, "content sync of %s failed: %s%s%s", base,
                     ldap_err2string(rc != LDAP_SUCCESS ? rc : code), text && *text ? ": " : "",
                     text ? text : "");
            rc = -1;
        }
        goto done;
    }
    rc = -1;
    done_ctrl = ldap_control_find(LDAP_CONTROL_SYNC_DONE, ctrls, NULL);
    if (done_ctrl == NULL) {
        snprintf(err, err_size, "content sync of %s: no sync done control", base);
        goto done;
    }
    ber = ber_init(&done_ctrl->ldctl_value);
    if (ber == NULL || ber_scanf(ber, "{") == LBER_ERROR ||
        (ber_peek_tag(ber, &len) == LDAP_TAG_SYNC_COOKIE &&
         ber_scanf(ber, "m", &cookie) == LBER_ERROR) ||
        (ber_peek_tag(ber, &len) == LDAP_TAG_REFRESHDELETES &&
         ber_scanf(ber, "b", &deletes) == LBER_ERROR)) {
        snprintf(err, err_size, "content sync of %s: a malformed sync done control", base);
        goto done;
    }
    keep_cookie(cs, &cookie);
    cs->delete_mode = deletes != 0;
    rc = 0;
done:
    ber_free(ber, 1);
    ldap_memfree(text);
    ldap_controls_free(ctrls);
    return rc;
}

int
lsync_read_ldap_sync(const struct lsync_ldap *conf,
                     const struct lsync_attrs *map,
                     const char *cookie,
                     struct lsync_sink *sink,
                     char **new_cookie,
                     bool *delete_mode,
                     char *err,
                     size_t err_size)
{
    char *attrs[LSYNC_MAX_MAIL_ATTRS + LSYNC_MAX_ENTITY_ATTRS + 12];
    struct csync cs = { .sink = sink };
    struct berval value = { 0, NULL }, sent = { 0, NULL };
    LDAPControl ctrl = { LDAP_CONTROL_SYNC, { 0, NULL }, 1 }, *sctrls[] = { &ctrl, NULL };
    BerElement *ber;
    LDAP *ld;
    int msgid, rc, ret = -1;

    *new_cookie = NULL;
    *delete_mode = false;
    if (conf->n_bases != 1) {
        snprintf(err, err_size, "content sync reads one base DN (%zu given)", conf->n_bases);
        return -1;
    }
    setenv("LDAPNOINIT", "1", 1);
    ld = connect_bind(conf, err, err_size);
    if (ld == NULL) {
        return -1;
    }
    read_ahead(ld);
    wanted_attributes(map, attrs, ANN_ARRAY_LEN(attrs));
    /* syncRequestValue: {mode refreshOnly, cookie (if any), reloadHint FALSE} */
    if (cookie != NULL && cookie[0] == '\0') {
        cookie = NULL;
    }
    if (cookie != NULL) {
        cs.sent_cookie = true;
        sent.bv_val = (char *)cookie;
        sent.bv_len = strlen(cookie);
        ber_dupbv(&cs.cookie, &sent); /* kept when the server gives no new one */
    }
    ber = ber_alloc_t(LBER_USE_DER);
    if (ber == NULL || ber_printf(ber, "{e", (ber_int_t)LDAP_SYNC_REFRESH_ONLY) == -1 ||
        (cookie != NULL && ber_printf(ber, "O", &sent) == -1) || ber_printf(ber, "N}") == -1 ||
        ber_flatten2(ber, &value, 0) == -1) {
        snprintf(err, err_size, "cannot encode the sync request control");
        goto done;
    }
    ctrl.ldctl_value = value;
    /* No time limit for the whole refresh (a first read of a big directory takes what it
     * takes); a server silent for conf->timeout seconds fails it below. */
    rc = ldap_search_ext(ld, conf->bases[0], conf->scope, conf->filter, attrs, 0, sctrls, NULL,
                         NULL, 0, &msgid);
    if (rc != LDAP_SUCCESS) {
        snprintf(err, err_size, "content sync of %s failed: %s", conf->bases[0],
                 ldap_err2string(rc));
        goto done;
    }
    for (;;) {
        LDAPMessage *msg = NULL;

        rc = next_message(ld, conf, msgid, "content sync", conf->bases[0], &msg, err, err_size);
        if (rc < 0) {
            goto done;
        }
        rc = rc == LDAP_RES_SEARCH_ENTRY    ? sync_entry(ld, msg, &cs, err, err_size)
             : rc == LDAP_RES_INTERMEDIATE  ? sync_info(ld, msg, &cs, err, err_size)
             : rc == LDAP_RES_SEARCH_RESULT ? sync_done(ld, msg, &cs, conf->bases[0], err, err_size)
                                            : 0; /* references are not followed */
        if (ldap_msgtype(msg) == LDAP_RES_SEARCH_RESULT || rc != 0) {
            if (rc != 0 && ldap_msgtype(msg) != LDAP_RES_SEARCH_RESULT) {
                ldap_abandon_ext(ld, msgid, NULL, NULL);
            }
            ldap_msgfree(msg);
            ret = rc;
            break;
        }
        ldap_msgfree(msg);
    }
    if (ret == 0) {
        if (cs.cookie.bv_len > 0) {
            *new_cookie = xstrndup(cs.cookie.bv_val, cs.cookie.bv_len);
        }
        /* Without a cookie the server sent everything there is: what it did not send is
         * gone, whatever its refreshDeletes flag says (slapd sets it). */
        *delete_mode = cookie != NULL && cs.delete_mode && !cs.present_phase;
    }
done:
    ber_free(ber, 1);
    ber_memfree(cs.cookie.bv_val);
    ldap_unbind_ext_s(ld, NULL, NULL);
    return ret;
}

char *
lsync_poll_filter(const char *attr, const char *mark)
{
    struct berval in = { strlen(mark), (char *)mark };
    struct berval out = { 0, NULL };
    char *filter;

    if (ldap_bv2escaped_filter_value(&in, &out) != 0) {
        return NULL;
    }
    filter = xasprintf("(%s>=%s)", attr, out.bv_val);
    ber_memfree(out.bv_val);
    return filter;
}
