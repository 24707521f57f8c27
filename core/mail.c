#include "core/mail.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "core/crypto.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/worker.h"

#define BATCH 10

static const struct db_stmt mail_stmts[] = {
    { "mail_queue", "WITH q AS (INSERT INTO annuaire.mail_outbox (recipient, kind, message)"
                    " VALUES ($1, $2, $3) RETURNING id)"
                    " SELECT pg_notify('annuaire_outbox', ''), id FROM q" },
};

static struct worker *sender;
static const struct cfg *conf;

void
mail_init(void)
{
    db_register(mail_stmts, ANN_ARRAY_LEN(mail_stmts));
}

enum db_status
mail_queue(struct db_conn *c, const char *recipient, const char *kind, const char *message)
{
    const char *params[] = { recipient, kind, message };

    return db_exec(c, "mail_queue", 3, params, NULL);
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

/* "Subject: Vérifiez" -> "Subject: =?UTF-8?B?...?=" (value only; names stay ASCII). */
static void
put_header(struct util_buf *b, const char *line, size_t n)
{
    const char *colon = memchr(line, ':', n);
    size_t vstart;

    if (colon == NULL || is_ascii(line, n)) {
        util_buf_put(b, line, n);
        util_buf_puts(b, "\r\n");
        return;
    }
    vstart = (size_t)(colon - line) + 1;
    while (vstart < n && line[vstart] == ' ') {
        vstart++;
    }
    util_buf_put(b, line, vstart);
    /* Encoded words of at most 45 bytes of text each, never splitting a UTF-8 sequence. */
    for (size_t i = vstart; i < n;) {
        size_t chunk = n - i > 45 ? 45 : n - i;
        char *enc;

        while (i + chunk < n && ((unsigned char)line[i + chunk] & 0xc0) == 0x80) {
            chunk--;
        }
        enc = cx_b64_encode(line + i, chunk, CX_B64_STD);
        util_buf_puts(b, i > vstart ? "\r\n =?UTF-8?B?" : "=?UTF-8?B?");
        util_buf_puts(b, enc);
        util_buf_put(b, "==", (4 - strlen(enc) % 4) % 4); /* MIME wants padded base64 */
        util_buf_puts(b, "?=");
        free(enc);
        i += chunk;
    }
    util_buf_puts(b, "\r\n");
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
    body = strstr(text, "\n\n");
    if (strstr(text, "\r\n\r\n") != NULL && (body == NULL || strstr(text, "\r\n\r\n") < body)) {
        body = strstr(text, "\r\n\r\n");
    }
    if (body == NULL) {
        free(text);
        return NULL;
    }
    for (p = text; p < body;) {
        const char *nl = strchr(p, '\n');
        size_t n = (size_t)((nl && nl < body ? nl : body) - p);

        if (n > 0 && p[n - 1] == '\r') {
            n--;
        }
        has_date |= strncasecmp(p, "Date:", 5) == 0;
        has_id |= strncasecmp(p, "Message-ID:", 11) == 0;
        has_mime |= strncasecmp(p, "MIME-Version:", 13) == 0;
        put_header(&b, p, n);
        p = nl && nl < body ? nl + 1 : body;
    }
    if (!has_date) {
        gmtime_r(&now, &tm);
        strftime(date, sizeof(date), "Date: %a, %d %b %Y %H:%M:%S +0000", &tm);
        put_header(&b, date, strlen(date));
    }
    if (!has_id) {
        rnd = cx_random_token(16);
        util_buf_puts(&b, "Message-ID: <");
        util_buf_puts(&b, rnd);
        util_buf_puts(&b, "@");
        util_buf_puts(&b, from_domain ? from_domain : "localhost");
        util_buf_puts(&b, ">\r\n");
        free(rnd);
    }
    if (!has_mime) {
        util_buf_puts(&b, "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n"
                          "Content-Transfer-Encoding: 8bit\r\n");
    }
    util_buf_puts(&b, "\r\n");
    body += body[0] == '\r' ? 4 : 2;
    for (p = body; *p != '\0';) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);

        util_buf_put(&b, p, n && p[n - 1] == '\r' ? n - 1 : n);
        util_buf_puts(&b, "\r\n");
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

/* One SMTP transaction. @return 0, or -1 with a reason in err */
static int
smtp_send(const char *recipient, const char *message, char *err, size_t err_size)
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
    if (rc != CURLE_OK) {
        snprintf(err, err_size, "%s", curl_easy_strerror(rc));
    }
    curl_slist_free_all(rcpt);
    curl_easy_cleanup(h);
    free(url);
    free(rcpt_line);
    free(from_line);
    free(from);
    return rc == CURLE_OK ? 0 : -1;
}

static bool
ok_result(PGresult *res)
{
    ExecStatusType st = PQresultStatus(res);

    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

/* Claims due messages (a lease: their next attempt moves into the future) and sends them.
 * @return how many were claimed, or -1 when the database failed */
static int
deliver_due(PGconn *pg)
{
    char base[32];
    const char *claim_params[] = { base };
    PGresult *res;
    int n;

    snprintf(base, sizeof(base), "%ld", conf->mail.retry_initial_delay);
    res = PQexecParams(pg,
                       "UPDATE annuaire.mail_outbox SET attempts = attempts + 1,"
                       " next_attempt_at = now() + make_interval(secs =>"
                       "  least(3600, $1::float8 * power(2, least(attempts, 20))))"
                       " WHERE id IN (SELECT id FROM annuaire.mail_outbox"
                       "  WHERE sent_at IS NULL AND next_attempt_at <= now()"
                       "  ORDER BY next_attempt_at LIMIT 10 FOR UPDATE SKIP LOCKED)"
                       " RETURNING id, recipient, message",
                       1, NULL, claim_params, NULL, NULL, 0);
    if (!ok_result(res)) {
        log_warn("mail: cannot read the outbox: %s", PQerrorMessage(pg));
        PQclear(res);
        return -1;
    }
    n = PQntuples(res);
    for (int i = 0; i < n; i++) {
        const char *id = PQgetvalue(res, i, 0);
        char err[256] = "";
        PGresult *up;

        if (smtp_send(PQgetvalue(res, i, 1), PQgetvalue(res, i, 2), err, sizeof(err)) == 0) {
            const char *params[] = { id };

            up = PQexecParams(pg,
                              "UPDATE annuaire.mail_outbox SET sent_at = now(), message = NULL,"
                              " last_error = NULL WHERE id = $1",
                              1, NULL, params, NULL, NULL, 0);
            metrics_mail(true);
            log_info("mail: message %s delivered", id);
        } else {
            const char *params[] = { id, err };

            up = PQexecParams(pg, "UPDATE annuaire.mail_outbox SET last_error = $2 WHERE id = $1",
                              2, NULL, params, NULL, NULL, 0);
            metrics_mail(false);
            log_warn("mail: message %s not delivered, will retry: %s", id, err);
        }
        PQclear(up);
    }
    PQclear(res);
    return n;
}

static int
mail_step(PGconn *pg, void *arg)
{
    return deliver_due(pg);
}

static const struct worker_spec mail_worker = {
    .name = "mail",
    .listen_sql = "LISTEN annuaire_outbox",
    .next_due_sql = "SELECT ceil(extract(epoch FROM min(next_attempt_at) - now()) * 1000)"
                    " FROM annuaire.mail_outbox WHERE sent_at IS NULL",
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
