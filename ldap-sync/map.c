/*
 * A directory entry mapped to the annuaire's fields: its stable key, e-mail addresses in
 * canonical form (de-duplicated; unusable ones dropped and reported), names, entity, title,
 * mobile (and its E.164 form), hidden and disabled, and the search words of all that
 * (ldap-sync/words.c); an entry without a key, with text that is not UTF-8, or with a name,
 * entity or title over 1024 bytes, is rejected.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistr.h>

#include "core/address.h"
#include "ldap-sync/internal.h"

void
lsync_entry_clear(struct lsync_entry *e)
{
    for (size_t i = 0; i < e->n_mails; i++) {
        free(e->mails[i]);
    }
    free(e->mails);
    free(e->key);
    free(e->dn);
    free(e->display_name);
    free(e->given_name);
    free(e->surname);
    free(e->entity);
    free(e->title);
    free(e->mobile);
    free(e->mobile_e164);
    lsync_words_clear(&e->words);
    memset(e, 0, sizeof(*e));
}

/* Values past this many in one mail attribute are left out (and reported). */
#define MAX_MAILS 64

/* A name, the entity or the title over this many bytes rejects its entry: PostgreSQL's
 * btree indexes on what is kept of them (the entity; the folded name, ldap-sync/words.c)
 * take at most 2704 bytes an entry, and one such value would fail the whole run. */
#define MAX_LABEL 1024

/* Whether len bytes at s are UTF-8; most directory values are ASCII, checked first. */
static bool
utf8(const char *s, size_t len)
{
    size_t i = 0;
    uint64_t word;

    for (; i + 8 <= len; i += 8) {
        memcpy(&word, s + i, 8);
        if ((word & UINT64_C(0x8080808080808080)) != 0) {
            break;
        }
    }
    while (i < len && (unsigned char)s[i] < 0x80) {
        i++;
    }
    return i == len || u8_check((const uint8_t *)s + i, len - i) == NULL;
}

bool
lsync_utf8(const char *s, size_t len)
{
    return memchr(s, '\0', len) == NULL && utf8(s, len);
}

char *
lsync_printable(const char *s)
{
    size_t len = strlen(s);
    struct util_buf b = { 0 };

    if (len > 200) {
        len = 200;
    }
    for (size_t i = 0; i < len;) {
        /* The longest UTF-8 prefix is copied as it is, then one byte escaped. */
        const uint8_t *bad = u8_check((const uint8_t *)s + i, len - i);
        size_t good = bad != NULL ? (size_t)((const char *)bad - (s + i)) : len - i;

        util_buf_put(&b, s + i, good);
        i += good;
        if (i < len) {
            util_buf_printf(&b, "\\x%02x", (unsigned char)s[i]);
            i++;
        }
    }
    util_buf_put(&b, "", 1);
    return util_buf_take(&b);
}

static const struct berval *const *
values_of(const struct lsync_attr *attrs, size_t n, const char *name)
{
    if (name == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        /* Attribute names are ASCII: a first-letter check skips most calls. */
        if ((attrs[i].name[0] | 0x20) == (name[0] | 0x20) && strcasecmp(attrs[i].name, name) == 0) {
            return attrs[i].values;
        }
    }
    return NULL;
}

/* The first value as text (NULL when absent or empty). A value that is not UTF-8 text
 * (or holds a NUL byte) is NULL too, and names its attribute in *bad (the first one only). */
static char *
first_text(const struct lsync_attr *attrs, size_t n, const char *name, const char **bad)
{
    const struct berval *const *v = values_of(attrs, n, name);

    if (v == NULL || v[0] == NULL || v[0]->bv_len == 0 || v[0]->bv_len > 4096) {
        return NULL;
    }
    if (memchr(v[0]->bv_val, '\0', v[0]->bv_len) != NULL || !utf8(v[0]->bv_val, v[0]->bv_len)) {
        *bad = *bad != NULL ? *bad : name;
        return NULL;
    }
    return xstrndup(v[0]->bv_val, v[0]->bv_len);
}

/* The first attribute whose value was over MAX_LABEL bytes, and its length. */
struct over_label {
    const char *attr;
    size_t len;
};

/* first_text for a name, the entity or the title: a value over MAX_LABEL bytes is NULL
 * too, and recorded in *over (the first one only). */
static char *
label_text(const struct lsync_attr *attrs,
           size_t n,
           const char *name,
           const char **bad,
           struct over_label *over)
{
    const struct berval *const *v = values_of(attrs, n, name);

    if (v != NULL && v[0] != NULL && v[0]->bv_len > MAX_LABEL) {
        if (over->attr == NULL) {
            over->attr = name;
            over->len = v[0]->bv_len;
        }
        return NULL;
    }
    return first_text(attrs, n, name, bad);
}

/* "mail 'x': why" for the report, x cut at 100 bytes on a character boundary. */
static json_t *
dropped_mail(const char *text, const char *why)
{
    size_t n = strlen(text);
    char *what;
    json_t *v;

    if (n > 100) {
        n = 100;
        while (n > 0 && ((unsigned char)text[n] & 0xc0) == 0x80) {
            n--;
        }
    }
    what = xasprintf("mail '%.*s': %s", (int)n, text, why);
    v = json_string(what); /* NULL when text is not UTF-8 */
    free(what);
    return v != NULL ? v : json_pack("s+", "mail (not UTF-8): ", why);
}

static void
add_mail(struct lsync_entry *e, const char *raw, size_t len, json_t *dropped)
{
    char *text;
    char *norm = NULL;
    const char *why = "NUL byte";

    /* Directories keep stray blanks around values: normalised away once, here. */
    while (len > 0 && (*raw == ' ' || *raw == '\t')) {
        raw++;
        len--;
    }
    while (len > 0 && (raw[len - 1] == ' ' || raw[len - 1] == '\t' || raw[len - 1] == '\r')) {
        len--;
    }
    text = xstrndup(raw, len);

    const char *colon = strchr(text, ':');
    const char *at = strchr(text, '@');

    /* Active Directory's proxyAddresses: "SMTP:primary", "smtp:alias", "X500:...", "SIP:..." */
    if (len > 5 && strncasecmp(text, "smtp:", 5) == 0) {
        memmove(text, text + 5, strlen(text + 5) + 1);
    } else if (colon != NULL && (at == NULL || colon < at)) {
        free(text); /* another kind of address */
        return;
    }
    /* The canonical form, as the API keys addresses (ASCII takes a fast path there); a
     * mail that has none is left out and reported, never stored as it is. */
    if (memchr(raw, '\0', len) != NULL || addr_email_check(text, &norm, &why) != 0) {
        if (dropped != NULL) {
            json_array_append_new(dropped, dropped_mail(text, why));
        }
        free(text);
        return;
    }
    free(text);
    for (size_t i = 0; i < e->n_mails; i++) {
        if (strcmp(e->mails[i], norm) == 0) {
            free(norm);
            return;
        }
    }
    e->mails = xrealloc(e->mails, (e->n_mails + 1) * sizeof(*e->mails));
    e->mails[e->n_mails++] = norm;
}

/* A phone number as E.164 digits (no '+'); national French numbers get 33. NULL if unsure. */
static char *
e164(const char *raw)
{
    char digits[32];
    size_t n = 0;
    const char *p = raw;
    bool plus = false;

    while (*p == ' ') {
        p++;
    }
    if (*p == '+') {
        plus = true;
        p++;
    }
    for (; *p != '\0'; p++) {
        if (plus && strncmp(p, "(0)", 3) == 0) {
            p += 2; /* "+33 (0)6 ...": the trunk prefix is not dialled from abroad */
            continue;
        }
        if (*p >= '0' && *p <= '9') {
            if (n >= sizeof(digits) - 1) {
                return NULL;
            }
            digits[n++] = *p;
        } else if (!strchr(" .-()", *p)) {
            return NULL;
        }
    }
    digits[n] = '\0';
    if (!plus && n > 2 && digits[0] == '0' && digits[1] == '0') {
        memmove(digits, digits + 2, n - 1); /* 0033... */
        n -= 2;
    } else if (!plus && n == 10 && digits[0] == '0') {
        char fr[40];

        snprintf(fr, sizeof(fr), "33%s", digits + 1);
        return xstrdup(fr);
    } else if (!plus) {
        return NULL;
    }
    return n >= 8 && n <= 15 ? xstrdup(digits) : NULL;
}

static char *
hex(const char *data, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    char *out = xmalloc(len * 2 + 1);

    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[(unsigned char)data[i] >> 4];
        out[2 * i + 1] = digits[(unsigned char)data[i] & 15];
    }
    out[len * 2] = '\0';
    return out;
}

int
lsync_map(const struct lsync_attrs *map,
          const char *dn,
          const char *known_key,
          const struct lsync_attr *attrs,
          size_t n_attrs,
          struct lsync_entry *out,
          json_t *dropped,
          const char **bad_attr,
          char *why,
          size_t why_size)
{
    const struct berval *const *v;
    const char *bad = NULL;
    struct over_label over = { NULL, 0 };
    char *flag;
    char *key;

    memset(out, 0, sizeof(*out));
    if (bad_attr != NULL) {
        *bad_attr = NULL;
    }
    switch (known_key != NULL ? LSYNC_KEY_OTHER : (enum lsync_key)map->key_kind) {
    case LSYNC_KEY_DN:
        out->key = xstrdup(dn);
        break;
    case LSYNC_KEY_OBJECTGUID:
        v = values_of(attrs, n_attrs, map->key);
        if (v != NULL && v[0] != NULL && v[0]->bv_len == 16) {
            out->key = hex(v[0]->bv_val, 16);
        }
        break;
    case LSYNC_KEY_ENTRYUUID:
    case LSYNC_KEY_OTHER:
        out->key = known_key ? xstrdup(known_key) : first_text(attrs, n_attrs, map->key, &bad);
        break;
    }
    if (out->key == NULL && bad == NULL) {
        snprintf(why, why_size, "no usable %s (the stable key)", map->key);
        return -1;
    }
    if (!lsync_utf8(dn, strlen(dn))) {
        bad = "dn";
    }
    /* Every value the entry would store must be UTF-8, as PostgreSQL wants text: one
     * that is not rejects the entry (it would fail the whole COPY). */
    for (size_t m = 0; m < map->n_mail && bad == NULL; m++) {
        size_t i = 0, more = 0;

        v = values_of(attrs, n_attrs, map->mail[m]);
        for (; v != NULL && v[i] != NULL && i < MAX_MAILS; i++) {
            if (!lsync_utf8(v[i]->bv_val, v[i]->bv_len)) {
                bad = map->mail[m];
                break;
            }
            add_mail(out, v[i]->bv_val, v[i]->bv_len, dropped);
        }
        while (bad == NULL && v != NULL && v[i] != NULL && v[i + more] != NULL) {
            more++;
        }
        if (more > 0 && dropped != NULL) {
            char *what = xasprintf("%zu values of %s past the %dth", more, map->mail[m], MAX_MAILS);

            json_array_append_new(dropped, json_string(what));
            free(what);
        }
    }
    out->dn = xstrdup(dn);
    out->display_name = label_text(attrs, n_attrs, map->display_name, &bad, &over);
    out->given_name = label_text(attrs, n_attrs, map->given_name, &bad, &over);
    out->surname = label_text(attrs, n_attrs, map->surname, &bad, &over);
    out->title = label_text(attrs, n_attrs, map->title, &bad, &over);
    for (size_t i = 0; i < map->n_entity && out->entity == NULL && over.attr == NULL; i++) {
        out->entity = label_text(attrs, n_attrs, map->entity[i], &bad, &over);
    }
    out->mobile = first_text(attrs, n_attrs, map->mobile, &bad);
    out->mobile_e164 = out->mobile ? e164(out->mobile) : NULL;
    flag = first_text(attrs, n_attrs, map->hidden, &bad);
    out->hidden = flag != NULL && (strcasecmp(flag, "true") == 0 || strcmp(flag, "1") == 0 ||
                                   strcasecmp(flag, "yes") == 0);
    free(flag);
    flag = first_text(attrs, n_attrs, map->disabled, &bad);
    out->disabled = flag != NULL && (strtol(flag, NULL, 10) & 2) != 0; /* ACCOUNTDISABLE */
    free(flag);
    if (bad != NULL || over.attr != NULL) {
        key = out->key; /* kept for the report */
        out->key = NULL;
        lsync_entry_clear(out);
        out->key = key;
        if (bad_attr != NULL) {
            *bad_attr = bad != NULL ? bad : over.attr;
        }
        if (bad != NULL) {
            snprintf(why, why_size, "%s: a value that is not UTF-8 text (or holds a NUL byte)",
                     bad);
        } else {
            snprintf(why, why_size, "%s: %zu bytes, over the %d a name, entity or title may have",
                     over.attr, over.len, MAX_LABEL);
        }
        return -1;
    }
    lsync_words_compute(&(struct lsync_words_in){ .display_name = out->display_name,
                                                  .given_name = out->given_name,
                                                  .surname = out->surname,
                                                  .entity = out->entity,
                                                  .mails = (const char *const *)out->mails,
                                                  .n_mails = out->n_mails },
                        &out->words);
    return 0;
}
