/*
 * Mail and page templates (<mail.templates_dir>/<name>_<fr|en>.<eml|html>, read at start-up),
 * the language picked from Accept-Language, checks of client_secret and next_link (and its
 * allowed domains), and what an address the enrollment gate refuses is told.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/cfg.h"
#include "core/log.h"
#include "core/mail.h"
#include "core/util.h"
#include "enroll/enroll.h"
#include "enroll/internal.h"

static char *templates[ENR_TPL__COUNT][ENR_LANG__COUNT];

static const struct {
    const char *file, *ext;
} tpl[ENR_TPL__COUNT] = {
    [ENR_TPL_VERIFICATION] = { "verification", "eml" },
    [ENR_TPL_VALIDATION_OK] = { "validation_ok", "html" },
    [ENR_TPL_VALIDATION_FAILED] = { "validation_failed", "html" },
    [ENR_TPL_INVITE] = { "invite", "eml" },
    [ENR_TPL_VIP] = { "vip", "eml" },
};
static const char *const lang_codes[ENR_LANG__COUNT] = { "fr", "en" };

/* The variables each template may name: what its handler always passes (a value it
 * lacks renders empty). A template naming anything else is refused when it loads. */
static const char *const mail_vars[] = { "from", "to", "address", "brand", NULL };
static const char *const verification_vars[] = { "link", "token", NULL };
static const char *const page_vars[] = { "brand", NULL };
static const char *const invite_vars[] = {
    "room_id",
    "room_name",
    "room_alias",
    "room_avatar_url",
    "room_type",
    "room_join_rules",
    "sender",
    "sender_display_name",
    "sender_avatar_url",
    "guest_access",
    "web_client_location",
    "token",
    "ephemeral_private_key",
    NULL,
};
/* What enr_vip_mail_render passes (struct enr_vip_mail). */
static const char *const vip_vars[] = {
    "inviter", "note", "homeserver", "web_client_location", "expires_at", NULL,
};

static bool
in_list(const char *const *list, const char *name, size_t len)
{
    for (; list != NULL && *list != NULL; list++) {
        if (strlen(*list) == len && strncmp(*list, name, len) == 0) {
            return true;
        }
    }
    return false;
}

static bool
var_known(enum enr_template t, const char *name, size_t len)
{
    switch (t) {
    case ENR_TPL_VERIFICATION:
        return in_list(mail_vars, name, len) || in_list(verification_vars, name, len);
    case ENR_TPL_INVITE:
        return in_list(mail_vars, name, len) || in_list(invite_vars, name, len);
    case ENR_TPL_VIP:
        return in_list(mail_vars, name, len) || in_list(vip_vars, name, len);
    default:
        return in_list(page_vars, name, len);
    }
}

/* Every {{name}} of text is one that t's handler passes. @return 0, or -1 with
 * "PATH:LINE: ..." in err */
static int
check_vars(enum enr_template t, const char *path, const char *text, char *err, size_t err_size)
{
    const char *counted = text; /* lines are counted up to here */
    int line = 1;

    for (const char *p = text; (p = strstr(p, "{{")) != NULL;) {
        const char *close = strstr(p + 2, "}}");
        const char *nl = strchr(p + 2, '\n');

        for (; counted < p; counted++) {
            line += *counted == '\n';
        }
        if (close == NULL || (nl != NULL && nl < close)) {
            snprintf(err, err_size, "%s:%d: \"{{\" without \"}}\" on the same line", path, line);
            return -1;
        }
        if (!var_known(t, p + 2, (size_t)(close - p - 2))) {
            snprintf(err, err_size, "%s:%d: unknown variable {{%.*s}} (no request carries it)",
                     path, line, (int)(close - p - 2) > 64 ? 64 : (int)(close - p - 2), p + 2);
            return -1;
        }
        p = close + 2;
    }
    return 0;
}

/* Reads every template of dir into out (all or nothing). */
static int
load_all(const char *dir, char *out[ENR_TPL__COUNT][ENR_LANG__COUNT], char *err, size_t err_size)
{
    for (int t = 0; t < ENR_TPL__COUNT; t++) {
        for (int l = 0; l < ENR_LANG__COUNT; l++) {
            char *path = xasprintf("%s/%s_%s.%s", dir, tpl[t].file, lang_codes[l], tpl[t].ext);
            int rc = util_read_file(path, 1 << 20, &out[t][l], NULL);

            if (rc != 0) {
                snprintf(err, err_size, "cannot read the template %s (mail.templates_dir)", path);
            } else {
                rc = check_vars((enum enr_template)t, path, out[t][l], err, err_size);
            }
            free(path);
            if (rc != 0) {
                return -1;
            }
        }
    }
    return 0;
}

static void
free_all(char *set[ENR_TPL__COUNT][ENR_LANG__COUNT])
{
    for (int t = 0; t < ENR_TPL__COUNT; t++) {
        for (int l = 0; l < ENR_LANG__COUNT; l++) {
            free(set[t][l]);
            set[t][l] = NULL;
        }
    }
}

int
enr_templates_load(char *err, size_t err_size)
{
    if (load_all(cfg_get()->mail.templates_dir, templates, err, err_size) != 0) {
        free_all(templates);
        return -1;
    }
    return 0;
}

int
enr_templates_check(const struct cfg *cfg, char *err, size_t err_size)
{
    char *set[ENR_TPL__COUNT][ENR_LANG__COUNT] = { { NULL } };
    int rc = load_all(cfg->mail.templates_dir, set, err, err_size);

    free_all(set);
    return rc;
}

void
enr_templates_free(void)
{
    free_all(templates);
}

int
enr_templates_use(char *err, size_t err_size)
{
    free_all(templates);
    return enr_templates_load(err, err_size);
}

/* A time as people read it in lang, UTC, to the minute: "1er mars 2027 à 14:05 UTC",
 * "1 March 2027, 14:05 UTC". */
static void
readable_time(long long epoch, enum enr_lang lang, char *out, size_t size)
{
    static const char *const months[ENR_LANG__COUNT][12] = {
        { "janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
          "octobre", "novembre", "décembre" },
        { "January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December" },
    };
    time_t t = (time_t)epoch;
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL) {
        snprintf(out, size, "%lld", epoch);
        return;
    }
    if (lang == ENR_LANG_FR) {
        snprintf(out, size, "%d%s %s %d à %02d:%02d UTC", tm.tm_mday, tm.tm_mday == 1 ? "er" : "",
                 months[lang][tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min);
    } else {
        snprintf(out, size, "%d %s %d, %02d:%02d UTC", tm.tm_mday, months[lang][tm.tm_mon],
                 tm.tm_year + 1900, tm.tm_hour, tm.tm_min);
    }
}

char *
enr_vip_mail_render(const struct enr_vip_mail *m)
{
    const struct cfg *cfg = cfg_get();
    enum enr_lang lang = m->lang != NULL && strcmp(m->lang, "en") == 0 ? ENR_LANG_EN : ENR_LANG_FR;
    char *from_addr = mail_address_of(cfg->mail.from);
    const char *domain = from_addr ? strchr(from_addr, '@') : NULL;
    char expires[96];
    char *msg;

    if (templates[ENR_TPL_VIP][lang] == NULL) {
        free(from_addr);
        return NULL;
    }
    readable_time(m->expires_at, lang, expires, sizeof(expires));
    const struct util_var vars[] = {
        { "from", cfg->mail.from },
        { "to", m->address },
        { "address", m->address },
        { "brand", cfg->mail.brand },
        { "inviter", m->inviter },
        { "note", m->note != NULL ? m->note : "" },
        { "homeserver", m->homeserver != NULL ? m->homeserver : "" },
        { "web_client_location", m->web_client_location != NULL ? m->web_client_location : "" },
        { "expires_at", expires },
    };

    msg = mail_render(templates[ENR_TPL_VIP][lang], vars, ANN_ARRAY_LEN(vars),
                      domain ? domain + 1 : NULL);
    free(from_addr);
    return msg;
}

const char *
enr_template(enum enr_template t, enum enr_lang lang)
{
    return templates[t][lang];
}

enum enr_lang
enr_lang_pick(const char *accept_language)
{
    enum enr_lang best = ENR_LANG_FR;
    double best_q = -1;
    const char *p = accept_language;

    /* "en-GB,en;q=0.9,fr;q=0.8": the highest-weighted of fr and en wins, French by default. */
    while (p != NULL && *p != '\0') {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *q = memchr(p, ';', n);
        double weight = 1.0;

        while (n > 0 && *p == ' ') {
            p++;
            n--;
        }
        if (q != NULL) {
            const char *qv = strstr(q, "q=");

            if (qv != NULL && qv < p + n) {
                weight = atof(qv + 2);
            }
        }
        for (int l = 0; l < ENR_LANG__COUNT; l++) {
            if (n >= 2 && strncasecmp(p, lang_codes[l], 2) == 0 &&
                (n == 2 || p[2] == '-' || p[2] == ';' || p[2] == ' ') && weight > best_q) {
                best = (enum enr_lang)l;
                best_q = weight;
            }
        }
        p = end ? end + 1 : NULL;
    }
    return best;
}

bool
enr_client_secret_ok(const char *s)
{
    size_t n = strlen(s);

    return n >= 1 && n <= 255 &&
           strspn(s, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.=_-") == n;
}

/* The host of an http(s) URL, lower-cased, into out. @return 0 or -1 */
static int
url_host(const char *url, char *out, size_t size)
{
    const char *start = strstr(url, "://") + 3;
    /* Browsers take a backslash for a slash in http(s) URLs: it ends the host too. */
    size_t len = strcspn(start, "/?#\\");
    const char *at = memchr(start, '@', len);
    size_t n;

    if (at != NULL) {
        /* user:password@host: browsers split at the last "@", and a link to an allowed
         * host has no reason to carry one; refused rather than parsed. */
        return -1;
    }
    if (*start == '[') {
        const char *close = memchr(start, ']', len);

        n = close ? (size_t)(close - start + 1) : len;
    } else {
        n = strcspn(start, ":/?#");
        n = n < len ? n : len;
    }
    if (n == 0 || n >= size) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        out[i] = (start[i] >= 'A' && start[i] <= 'Z') ? (char)(start[i] - 'A' + 'a') : start[i];
    }
    out[n] = '\0';
    return 0;
}

bool
enr_next_link_allowed(const char *url)
{
    const json_t *allowed = cfg_get()->validation.next_link_domains;
    char host[256];
    size_t i;
    json_t *v;

    if (json_array_size(allowed) == 0) {
        return true;
    }
    if (url_host(url, host, sizeof(host)) != 0) {
        return false;
    }
    json_array_foreach (allowed, i, v) {
        if (strcasecmp(json_string_value(v), host) == 0) {
            return true;
        }
    }
    return false;
}

const char *
enr_enroll_refusal(enum dir_enroll verdict)
{
    switch (verdict) {
    case DIR_ENROLL_NO_ROUTE:
        return "no homeserver takes this address, so it cannot register";
    case DIR_ENROLL_NOT_INVITED:
        return "this address needs an invitation to register, and none is pending: ask someone "
               "already on the service to invite it";
    case DIR_ENROLL_NOT_AGENT:
        return "this platform is for the agents listed in the interministerial directory, and "
               "this address is not one of them";
    default:
        return "this address cannot register";
    }
}

bool
enr_next_link_ok(const char *s)
{
    if (strncmp(s, "https://", 8) != 0 && strncmp(s, "http://", 7) != 0) {
        return false;
    }
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s <= ' ' || *s == 0x7f) {
            return false;
        }
    }
    return true;
}
