#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <lber.h>
#include <ldap.h>
#include <openssl/crypto.h>

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
        if (util_read_file(conf->password_file, 4096, out, &len) != 0) {
            snprintf(err, err_size, "cannot read bind_password_file %s: %s", conf->password_file,
                     strerror(errno));
            return -1;
        }
        while (len > 0 && ((*out)[len - 1] == '\n' || (*out)[len - 1] == '\r')) {
            (*out)[--len] = '\0';
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

/* The attributes to ask for: the mapped ones and the key (operational, never implied). */
static size_t
wanted_attributes(const struct lsync_attrs *m, char **out, size_t max)
{
    const char *all[] = { m->key,   m->display_name, m->given_name, m->surname,
                          m->title, m->mobile,       m->hidden,     m->disabled };
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

/* Hands the entries of one page to the sink. @return 0 or -1 */
static int
deliver_page(LDAP *ld, LDAPMessage *res, struct lsync_sink *sink)
{
    for (LDAPMessage *e = ldap_first_entry(ld, res); e != NULL; e = ldap_next_entry(ld, e)) {
        struct lsync_attr attrs[MAX_ATTRS];
        struct berval **vals[MAX_ATTRS];
        size_t n = 0;
        BerElement *ber = NULL;
        char *dn = ldap_get_dn(ld, e);
        int rc;

        for (char *a = ldap_first_attribute(ld, e, &ber); a != NULL && n < MAX_ATTRS;
             a = ldap_next_attribute(ld, e, ber)) {
            vals[n] = ldap_get_values_len(ld, e, a);
            attrs[n].name = a;
            attrs[n].values = (const struct berval *const *)vals[n];
            n++;
        }
        ber_free(ber, 0);
        rc = sink->entry(sink->ctx, dn ? dn : "", attrs, n);
        for (size_t i = 0; i < n; i++) {
            ldap_value_free_len(vals[i]);
            ldap_memfree((char *)attrs[i].name);
        }
        ldap_memfree(dn);
        if (rc != 0) {
            return -1;
        }
    }
    return 0;
}

/* Every page of one base DN. Anything but success with an empty cookie is a failed read. */
static int
read_base(LDAP *ld,
          const struct lsync_ldap *conf,
          const char *base,
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
        struct timeval tv = { conf->timeout, 0 };
        ber_int_t estimate = 0;
        int rc;
        int code = 0;
        char *msg = NULL;

        if (ldap_create_page_control(ld, conf->page_size, &cookie, 1, &page) != LDAP_SUCCESS) {
            snprintf(err, err_size, "cannot create the paged results control");
            goto done;
        }
        sctrls[0] = page;
        rc = ldap_search_ext_s(ld, base, conf->scope, conf->filter, attrs, 0, sctrls, NULL, &tv, 0,
                               &res);
        ldap_control_free(page);
        if (rc != LDAP_SUCCESS) {
            snprintf(err, err_size, "search of %s failed: %s", base, ldap_err2string(rc));
            ldap_msgfree(res);
            goto done;
        }
        if (deliver_page(ld, res, sink) != 0) {
            ldap_msgfree(res);
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
                const struct lsync_attrs *map,
                struct lsync_sink *sink,
                char *err,
                size_t err_size)
{
    char *attrs[LSYNC_MAX_MAIL_ATTRS + LSYNC_MAX_ENTITY_ATTRS + 12];
    LDAP *ld;
    int ret = 0;

    setenv("LDAPNOINIT", "1", 1); /* no ldap.conf, ~/.ldaprc or LDAP* variables */
    ld = connect_bind(conf, err, err_size);
    if (ld == NULL) {
        return -1;
    }
    wanted_attributes(map, attrs, ANN_ARRAY_LEN(attrs));
    for (size_t i = 0; i < conf->n_bases && ret == 0; i++) {
        ret = read_base(ld, conf, conf->bases[i], attrs, sink, err, err_size);
    }
    ldap_unbind_ext_s(ld, NULL, NULL);
    return ret;
}
