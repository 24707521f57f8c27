/*
 * Outbound mail (core/mail.h): renders templates into messages, queues them in
 * the outbox, and the sender thread that delivers them over SMTP (libcurl) and
 * records each outcome through core/store.c.
 */
#include "core/mail.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <unistr.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "core/crypto.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/store.h"
#include "core/worker.h"

/* Mails claimed per step: one, so that a sender never holds a mail it is not sending. */
#define BATCH           1
/* Longest Message-ID kept in its column (RFC 5322 lines are at most 998 bytes). */
#define MESSAGE_ID_MAX  998
/* Longest line of a rendered message, CRLF not counted (RFC 5322 2.1.1, RFC 5321 4.5.3.1.6). */
#define LINE_MAX_OCTETS 998

static struct worker *sender;
static const struct cfg *conf;

void
mail_init(void)
{
    store_init();
}

/* The value of the Message-ID header of a rendered message, or NULL. Owned by the caller. */
static char *
message_id_of(const char *message)
{
    for (const char *p = message; *p != '\0' && *p != '\r' && *p != '\n';) {
        size_t n = strcspn(p, "\r\n");

        if (n > 11 && strncasecmp(p, "Message-ID:", 11) == 0) {
            const char *v = p + 11;

            while (*v == ' ' || *v == '\t') {
                v++;
            }
            n -= (size_t)(v - p);
            return n > 0 && n <= MESSAGE_ID_MAX ? xstrndup(v, n) : NULL;
        }
        p += n;
        p += *p == '\r' ? 1 : 0;
        p += *p == '\n' ? 1 : 0;
    }
    return NULL;
}

enum db_status
mail_queue(struct db_conn *c, const char *recipient, const char *kind, const char *message)
{
    return mail_queue_invite(c, recipient, kind, message, NULL);
}

enum db_status
mail_queue_invite(struct db_conn *c,
                  const char *recipient,
                  const char *kind,
                  const char *message,
                  const char *invite_id)
{
    char *id = message_id_of(message);
    enum db_status st = store_mail_queue(c, recipient, kind, message, id, invite_id);

    free(id);
    return st;
}

void
mail_wake(void)
{
    worker_wake(sender);
}

char *
mail_address_of(const char *from)
{
    const char *lt = strrchr(from, '<');
    const char *gt = lt ? strchr(lt, '>') : NULL;

    if (lt != NULL && gt != NULL && gt > lt + 1) {
        return xstrndup(lt + 1, (size_t)(gt - lt - 1));
    }
    return strchr(from, '@') && !strpbrk(from, " <>\r\n") ? xstrdup(from) : NULL;
}

/* --- rendering --------------------------------------------------------- */

static bool
is_ascii(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] >= 0x80) {
            return false;
        }
    }
    return true;
}

/* Encoded words (RFC 2047) for text[0..n): at most 45 bytes of text each (75 characters
 * encoded), never splitting a UTF-8 sequence: a cut moves back over at most 3
 * continuation bytes (a sequence has no more), so a run of them (not UTF-8: a template
 * or a configured value) is still cut, and every word takes at least 42 bytes. */
static void
put_encoded(struct util_buf *b, const char *text, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t chunk = n - i > 45 ? 45 : n - i;
        size_t back = 0;
        char *enc;

        while (back < 3 && i + chunk - back < n &&
               ((unsigned char)text[i + chunk - back] & 0xc0) == 0x80) {
            back++;
        }
        if (back < 3 || ((unsigned char)text[i + chunk - back] & 0xc0) != 0x80) {
            chunk -= back;
        }
        enc = cx_b64_encode(text + i, chunk, CX_B64_STD);
        util_buf_puts(b, i > 0 ? "\r\n =?UTF-8?B?" : "=?UTF-8?B?");
        util_buf_puts(b, enc);
        util_buf_put(b, "==", (4 - strlen(enc) % 4) % 4); /* MIME wants padded base64 */
        util_buf_puts(b, "?=");
        free(enc);
        i += chunk;
    }
}

static bool
is_address_header(const char *line, size_t name_len)
{
    static const char *const names[] = { "From", "To", "Cc", "Reply-To", "Sender" };

    for (size_t i = 0; i < ANN_ARRAY_LEN(names); i++) {
        if (name_len == strlen(names[i]) && strncasecmp(line, names[i], name_len) == 0) {
            return true;
        }
    }
    return false;
}

/*
 * One header line of a template, non-ASCII text encoded: "Subject: Vérifiez" ->
 * "Subject: =?UTF-8?B?...?=", "From: Agence é <a@b>" -> "From: =?UTF-8?B?...?= <a@b>"
 * (an address stays as it is), a folded line's text after its leading white space.
 * @return 0, or -1 for a line that is not a header (no name, a name that is not
 *         printable ASCII, or no colon)
 */
static int
put_header(struct util_buf *b, const char *line, size_t n)
{
    const char *colon = memchr(line, ':', n);
    size_t vstart, vend = n;

    if (line[0] == ' ' || line[0] == '\t') {
        vstart = strspn(line, " \t");
        vstart = vstart < n ? vstart : n;
    } else {
        if (colon == NULL || colon == line) {
            return -1;
        }
        for (const char *c = line; c < colon; c++) {
            if ((unsigned char)*c <= ' ' || (unsigned char)*c >= 0x7f) {
                return -1; /* RFC 5322 field names: printable ASCII but the colon */
            }
        }
        vstart = (size_t)(colon - line) + 1;
        while (vstart < n && line[vstart] == ' ') {
            vstart++;
        }
        if (is_address_header(line, (size_t)(colon - line))) {
            /* The address itself is never an encoded word (RFC 2047 5): "name <addr>"
             * encodes the name only, a bare address stays as it is; an address with a
             * non-ASCII local part goes as UTF-8 (RFC 6532), exactly as the recipient. */
            const char *lt = memrchr(line + vstart, '<', n - vstart);

            if (lt != NULL && u8_check((const uint8_t *)lt, n - (size_t)(lt - line)) == NULL) {
                vend = (size_t)(lt - line);
                while (vend > vstart && line[vend - 1] == ' ') {
                    vend--;
                }
            } else if (lt == NULL && memchr(line + vstart, '@', n - vstart) != NULL &&
                       memchr(line + vstart, ' ', n - vstart) == NULL &&
                       u8_check((const uint8_t *)line + vstart, n - vstart) == NULL) {
                vend = vstart;
            }
        }
    }
    if (is_ascii(line, n) || (is_ascii(line + vstart, vend - vstart) &&
                              u8_check((const uint8_t *)line + vend, n - vend) == NULL)) {
        util_buf_put(b, line, n);
    } else {
        util_buf_put(b, line, vstart);
        put_encoded(b, line + vstart, vend - vstart);
        if (vend < n) {
            util_buf_put(b, " ", 1);
            util_buf_put(b, line + vend + strspn(line + vend, " "),
                         n - vend - strspn(line + vend, " "));
        }
    }
    util_buf_puts(b, "\r\n");
    return 0;
}

/* Whether every CRLF-ended line of s[0..n) is at most LINE_MAX_OCTETS long. */
static bool
lines_fit(const char *s, size_t n)
{
    size_t start = 0;

    for (size_t i = 0; i + 1 < n; i++) {
        if (s[i] == '\r' && s[i + 1] == '\n') {
            if (i - start > LINE_MAX_OCTETS) {
                return false;
            }
            start = i + 2;
        }
    }
    return n - start <= LINE_MAX_OCTETS;
}

/*
 * One line of the body (no line break in it), CRLF-ended, broken into lines of at most
 * LINE_MAX_OCTETS octets (one less when it starts with a dot, which SMTP doubles): after
 * the last space within the limit, which ends the first line (so the lines put back
 * together are the text), else before the last UTF-8 sequence that would not fit whole.
 * A run of more than 3 continuation bytes (not UTF-8) is cut where it is.
 */
static void
put_body_line(struct util_buf *b, const char *line, size_t n)
{
    for (;;) {
        size_t limit = n > 0 && line[0] == '.' ? LINE_MAX_OCTETS - 1 : LINE_MAX_OCTETS;
        size_t cut = limit, back = 0;
        const char *sp;

        if (n <= limit) {
            break;
        }
        sp = memrchr(line + 1, ' ', limit - 1); /* a space at 0 would make a line of 1 */
        if (sp != NULL) {
            cut = (size_t)(sp - line) + 1;
        } else {
            while (back < 3 && ((unsigned char)line[limit - back] & 0xc0) == 0x80) {
                back++;
            }
            if (back < 3 || ((unsigned char)line[limit - back] & 0xc0) != 0x80) {
                cut = limit - back;
            }
        }
        util_buf_put(b, line, cut);
        util_buf_puts(b, "\r\n");
        line += cut;
        n -= cut;
    }
    util_buf_put(b, line, n);
    util_buf_puts(b, "\r\n");
}

/* A domain that can go into a Message-ID as it is: printable ASCII, no angle bracket. */
static bool
domain_ok(const char *d)
{
    if (d == NULL || *d == '\0' || strlen(d) > 255) {
        return false;
    }
    for (; *d != '\0'; d++) {
        if ((unsigned char)*d <= ' ' || (unsigned char)*d >= 0x7f || *d == '<' || *d == '>') {
            return false;
        }
    }
    return true;
}

char *
mail_render(const char *tmpl, const struct util_var *vars, size_t n_vars, const char *from_domain)
{
    char *text = NULL;
    struct util_buf b = { 0 };
    bool has_date = false, has_id = false, has_mime = false;
    const char *p;
    const char *body;
    char date[64];
    char *rnd;
    time_t now = time(NULL);
    struct tm tm;

    for (size_t i = 0; i < n_vars; i++) {
        if (strpbrk(vars[i].value, "\r\n") != NULL) {
            return NULL;
        }
    }
    text = util_fill(tmpl, vars, n_vars, false);
    /* Lines end in LF or CRLF in the template, in CRLF in the message: every CR goes, so
     * none is left bare (a lone CR can end a line for some relays, not for others). */
    for (char *r = text, *w = text;; r++) {
        if (*r != '\r') {
            *w++ = *r;
        }
        if (*r == '\0') {
            break;
        }
    }
    body = strstr(text, "\n\n");
    if (body == NULL) {
        free(text);
        return NULL;
    }
    for (p = text; p < body;) {
        const char *nl = strchr(p, '\n');
        size_t n = (size_t)((nl && nl < body ? nl : body) - p);

        if (n > 0) { /* an empty line here (at the start) would end the headers early */
            has_date |= strncasecmp(p, "Date:", 5) == 0;
            has_id |= strncasecmp(p, "Message-ID:", 11) == 0;
            has_mime |= strncasecmp(p, "MIME-Version:", 13) == 0;
            if (put_header(&b, p, n) != 0) {
                free(text);
                free(b.p);
                return NULL;
            }
        }
        p = nl && nl < body ? nl + 1 : body;
    }
    if (!has_date) {
        gmtime_r(&now, &tm);
        strftime(date, sizeof(date), "Date: %a, %d %b %Y %H:%M:%S +0000", &tm);
        util_buf_puts(&b, date);
        util_buf_puts(&b, "\r\n");
    }
    if (!has_id) {
        rnd = cx_random_token(16);
        util_buf_puts(&b, "Message-ID: <");
        util_buf_puts(&b, rnd);
        util_buf_puts(&b, "@");
        util_buf_puts(&b, domain_ok(from_domain) ? from_domain : "localhost");
        util_buf_puts(&b, ">\r\n");
        free(rnd);
    }
    if (!has_mime) {
        util_buf_puts(&b, "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n"
                          "Content-Transfer-Encoding: 8bit\r\n");
    }
    if (!lines_fit(b.p, b.len)) {
        free(text);
        free(b.p);
        return NULL; /* a header line over the limit: ASCII text is never folded */
    }
    util_buf_puts(&b, "\r\n");
    body += 2;
    for (p = body; *p != '\0';) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);

        put_body_line(&b, p, n);
        p = nl ? nl + 1 : p + n;
    }
    free(text);
    return b.p;
}

/* --- sending ------------------------------------------------------------ */

struct upload {
    const char *data;
    size_t len, off;
};

static size_t
read_message(char *buf, size_t size, size_t n, void *p)
{
    struct upload *u = p;
    size_t len = size * n;

    if (len > u->len - u->off) {
        len = u->len - u->off;
    }
    memcpy(buf, u->data + u->off, len);
    u->off += len;
    return len;
}

/* One SMTP transaction.
 * @param[out] refused  the relay answered, with a refusal (4xx/5xx), rather than not at all
 * @return 0, or -1 with a reason in err */
static int
smtp_send(const char *recipient, const char *message, char *err, size_t err_size, bool *refused)
{
    const struct cfg_mail *m = &conf->mail;
    struct upload u = { .data = message, .len = strlen(message) };
    struct curl_slist *rcpt = NULL;
    char *from = mail_address_of(m->from);
    char *url;
    char *rcpt_line = xasprintf("<%s>", recipient);
    char *from_line = xasprintf("<%s>", from ? from : "");
    CURL *h = curl_easy_init();
    CURLcode rc;
    long code = 0;

    url = xasprintf("%s://%s:%ld", strcmp(m->smtp_security, "tls") == 0 ? "smtps" : "smtp",
                    m->smtp_host, m->smtp_port);
    rcpt = curl_slist_append(rcpt, rcpt_line);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_MAIL_FROM, from_line);
    curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, read_message);
    curl_easy_setopt(h, CURLOPT_READDATA, &u);
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    /* The whole exchange, connection included: the claim's lease is sized from it. */
    curl_easy_setopt(h, CURLOPT_TIMEOUT, m->smtp_timeout);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, m->smtp_timeout);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, m->tls_verify ? 1L : 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, m->tls_verify ? 2L : 0L);
    if (strcmp(m->smtp_security, "starttls") == 0) {
        curl_easy_setopt(h, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
    }
    if (m->smtp_username != NULL) {
        curl_easy_setopt(h, CURLOPT_USERNAME, m->smtp_username);
        curl_easy_setopt(h, CURLOPT_PASSWORD, m->smtp_password ? m->smtp_password : "");
    }
    rc = curl_easy_perform(h);
    *refused = false;
    if (rc != CURLE_OK) {
        snprintf(err, err_size, "%s", curl_easy_strerror(rc));
        *refused = curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK && code >= 400;
    }
    curl_slist_free_all(rcpt);
    curl_easy_cleanup(h);
    free(url);
    free(rcpt_line);
    free(from_line);
    free(from);
    return rc == CURLE_OK ? 0 : -1;
}

/*
 * Seconds a claim holds a mail: longer than a send can take (the SMTP exchange, bounded
 * by smtp_timeout) plus recording its outcome (a reconnection and a statement), with a
 * margin, so that no other sender takes the mail while it is being sent.
 */
static long
lease_seconds(void)
{
    const struct cfg_database *d = &conf->database;

    return 2 * (conf->mail.smtp_timeout + d->connect_timeout) + d->statement_timeout_ms / 1000 + 5;
}

static void
record_sent(struct db_conn *c, const struct mail_claim *m)
{
    const char *mid = m->message_id ? m->message_id : "-";
    enum db_status st = store_mail_sent(c, m);

    if (st > 0) {
        log_info("mail: message %s delivered (Message-ID %s)", m->id, mid);
    } else if (st == DB_NO_ROWS) {
        log_warn("mail: message %s was accepted by the relay after its claim ran out: it may be "
                 "delivered twice (Message-ID %s)",
                 m->id, mid);
    } else {
        log_warn("mail: message %s was accepted by the relay but cannot be marked as sent: "
                 "delivery may be repeated, with the same Message-ID %s",
                 m->id, mid);
    }
    if (st >= 0 && store_mail_relay_back(c) > 0) {
        log_info("mail: the relay answers again: mail waiting for it is due now");
    }
}

static void
record_failed(struct db_conn *c, const struct mail_claim *m, const char *err, bool refused)
{
    enum db_status st = store_mail_failed(c, m, err, conf->mail.retry_initial_delay, !refused);

    if (st < 0) {
        log_warn("mail: message %s not delivered (%s), and the failure cannot be recorded: "
                 "it is retried when its claim runs out",
                 m->id, err);
    } else {
        log_warn("mail: message %s not delivered, will retry: %s", m->id, err);
    }
}

/*
 * Claims the mail due first and sends it. The statements run alone (autocommit):
 * each is one atomic statement, and the one resend db_exec makes after a lost
 * connection is harmless for each (a claim whose reply was lost leaves a mail
 * leased to nobody, retried when the lease runs out; the outcomes only apply
 * under this claim's number).
 * @return 1 when a mail was claimed, 0 when none is due, -1 when the database failed
 */
static int
deliver_one(void)
{
    struct db_conn *c = db_thread_conn();
    struct mail_claim m = { 0 };
    char err[256] = "";
    bool refused = false;
    enum db_status st = store_mail_claim(c, lease_seconds(), &m);

    if (st < 0) {
        log_warn("mail: cannot read the outbox");
        return -1;
    }
    if (st == 0) {
        return 0;
    }
    if (m.message == NULL) {
        log_bug("mail: a claimed message has no text");
        snprintf(err, sizeof(err), "no message text");
        record_failed(c, &m, err, true);
    } else if (smtp_send(m.recipient, m.message, err, sizeof(err), &refused) == 0) {
        metrics_mail(true);
        record_sent(c, &m);
    } else {
        metrics_mail(false);
        record_failed(c, &m, err, refused);
    }
    if (m.message != NULL) {
        OPENSSL_cleanse(m.message, strlen(m.message)); /* it holds a token */
    }
    store_mail_claim_clear(&m);
    return 1;
}

static int
mail_step(void *arg)
{
    return deliver_one();
}

static const struct worker_spec mail_worker = {
    .name = "mail",
    .listen_stmt = STORE_MAIL_LISTEN,
    .next_due_stmt = STORE_MAIL_NEXT_DUE,
    .step = mail_step,
    .batch = BATCH,
};

int
mail_sender_start(const struct cfg *c)
{
    conf = c;
    sender = worker_start(&mail_worker, &c->database);
    return sender ? 0 : -1;
}

void
mail_sender_stop(void)
{
    worker_stop(sender);
    sender = NULL;
}
