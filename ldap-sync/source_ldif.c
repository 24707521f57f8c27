#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include <lber.h>
#include <ldap.h>
#include <ldif.h>

#include "core/log.h"
#include "ldap-sync/internal.h"

/*
 * An LDIF export, one record at a time. The lines are read here, not by libldap's
 * ldif_read_record, which follows "include:" lines; each record is then checked for
 * "attr:< URL" values before libldap's parser (which would open the URL) sees it.
 * A file that ends inside a record (no final line break, or a last record that is
 * not followed by a blank line and does not map whole) is a cut export: that record
 * is handed to the sink's partial(), never taken as an entry.
 */

/* Attributes of one LDIF record, gathered from its "add" modifications; past this many
 * the rest are left out (and reported). */
#define MAX_ATTRS  256
/* A record bigger than this is no directory entry. */
#define MAX_RECORD (16 * 1024 * 1024)

struct reader {
    const char *path;
    FILE *f;
    struct lsync_sink *sink;
    char *line;
    size_t line_cap;
    unsigned long lineno;
    bool eof;
    bool cut_line;       /* the file's last line has no line break */
    bool rec_cut;        /* ... and it is the current record's last line */
    struct util_buf rec; /* the current record's lines, '\n'-terminated */
    unsigned long rec_line;
    size_t last_logical; /* where the record's last logical line starts in rec */
    char *err;
    size_t err_size;
};

/* Reads one physical line into r->line without its line break. @return its length, or -1 */
static ssize_t
next_line(struct reader *r)
{
    ssize_t len = getline(&r->line, &r->line_cap, r->f);

    if (len < 0) {
        r->eof = true;
        return -1;
    }
    r->lineno++;
    if (r->line[len - 1] == '\n') {
        len--;
        if (len > 0 && r->line[len - 1] == '\r') {
            len--;
        }
    } else {
        r->cut_line = true;
    }
    r->line[len] = '\0';
    return len;
}

/*
 * Finds a URL value ("attr:< file:///...") in a record, unfolding lines as LDIF
 * does (a line break followed by one space continues the line, anywhere in it).
 * @param[out] at    the line of that value
 * @param[out] attr  its attribute description
 * @return true when the record has one
 */
static bool
url_value(const char *rec,
          size_t len,
          unsigned long first_line,
          unsigned long *at,
          char *attr,
          size_t attr_size)
{
    const char *p = rec, *end = rec + len;
    unsigned long line = first_line;

    while (p < end) {
        unsigned long start = line;
        size_t n = 0;

        /* The attribute description, up to the colon. */
        while (p < end && *p != ':') {
            if (*p == '\n') {
                if (p + 1 < end && p[1] == ' ') {
                    line++;
                    p += 2; /* a folded line goes on */
                    continue;
                }
                break; /* no colon: the parser says what is wrong */
            }
            if (n + 1 < attr_size) {
                attr[n++] = *p;
            }
            p++;
        }
        attr[n] = '\0';
        if (p < end && *p == ':') {
            p++;
            while (p + 1 < end && p[0] == '\n' && p[1] == ' ') {
                line++;
                p += 2;
            }
            if (p < end && *p == '<') {
                *at = start;
                return true;
            }
        }
        /* The rest of the logical line. */
        for (;;) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));

            if (nl == NULL) {
                p = end;
                break;
            }
            line++;
            p = nl + 1;
            if (p >= end || *p != ' ') {
                break;
            }
        }
    }
    return false;
}

/* The first line of rec (len bytes, lines ending in \n) that starts an attribute but has
 * no attribute description before its colon (letters, digits, '-', ';', '.'), counted
 * from 0; -1 when there is none. libldap 2.5 dereferences NULL on a line it parses
 * without a name (": y", "-", "\f:"). Comment lines and continuations (a leading
 * space) are not attribute lines. */
static long
nameless_line(const char *rec, size_t len)
{
    long line = 0;

    for (size_t i = 0; i < len; line++) {
        const char *nl = memchr(rec + i, '\n', len - i);
        size_t end = nl != NULL ? (size_t)(nl - rec) : len;
        size_t n = i;

        if (rec[i] != ' ' && rec[i] != '#') {
            while (n < end &&
                   ((rec[n] >= 'a' && rec[n] <= 'z') || (rec[n] >= 'A' && rec[n] <= 'Z') ||
                    (rec[n] >= '0' && rec[n] <= '9') || rec[n] == '-' || rec[n] == ';' ||
                    rec[n] == '.')) {
                n++;
            }
            if (n == i || n >= end || rec[n] != ':') {
                return line;
            }
        }
        i = end + 1;
    }
    return -1;
}

/* Parses rec (len bytes) as an entry record. @return 0 and lr filled, 1 not an entry, -1 */
static int
parse_record(char *rec, size_t len, unsigned long lineno, LDIFRecord *lr)
{
    struct berval bv = { len, rec };

    memset(lr, 0, sizeof(*lr));
    if (nameless_line(rec, len) >= 0) {
        return -1;
    }
    if (ldap_parse_ldif_record(&bv, lineno, lr, "annuaire",
                               LDIF_DEFAULT_ADD | LDIF_ENTRIES_ONLY | LDIF_NO_CONTROLS) != 0) {
        return -1;
    }
    if (lr->lr_op != LDAP_REQ_ADD) {
        ldap_ldif_record_done(lr); /* "version: 1", or a change record: not an entry */
        return 1;
    }
    return 0;
}

/* The record's attributes, as far as MAX_ATTRS; left_out: how many more it has. */
static size_t
record_attrs(const LDIFRecord *lr, struct lsync_attr *attrs, size_t *left_out)
{
    size_t n = 0;

    *left_out = 0;
    for (int i = 0; lr->lrop_mods != NULL && lr->lrop_mods[i] != NULL; i++) {
        if (n == MAX_ATTRS) {
            (*left_out)++;
            continue;
        }
        attrs[n].name = lr->lrop_mods[i]->mod_type;
        attrs[n].values = (const struct berval *const *)lr->lrop_mods[i]->mod_bvalues;
        n++;
    }
    return n;
}

/*
 * Hands the record in r->rec to the sink. last: it is the file's last record and no
 * blank line follows it. @return 0, or -1 to stop (err set, or the sink's error)
 */
static int
end_record(struct reader *r, bool last)
{
    struct lsync_attr attrs[MAX_ATTRS];
    unsigned long at;
    char attr[80];
    LDIFRecord lr;
    bool parsed;
    size_t n;
    int rc;

    if (r->rec.len == 0) {
        return 0;
    }
    util_buf_put(&r->rec, "", 1); /* NUL-terminated for the parser, not counted below */
    r->rec.len--;
    if (memchr(r->rec.p, '<', r->rec.len) != NULL && /* most records have none */
        url_value(r->rec.p, r->rec.len, r->rec_line, &at, attr, sizeof(attr))) {
        char esc[LOG_ESC_SIZE];

        snprintf(r->err, r->err_size,
                 "%s:%lu: %s: a URL value (attr:< URL) is not accepted in an export; the file is "
                 "refused",
                 r->path, at, log_esc(attr, esc));
        return -1;
    }
    if (!(last && r->rec_cut)) {
        rc = parse_record(r->rec.p, r->rec.len, r->rec_line, &lr);
        if (rc == 1) {
            return 0;
        }
        if (rc < 0 && !last) {
            long bad = nameless_line(r->rec.p, r->rec.len);

            if (bad >= 0) {
                snprintf(r->err, r->err_size, "%s:%lu: not an attribute line (no name and colon)",
                         r->path, r->rec_line + (unsigned long)bad);
            } else {
                snprintf(r->err, r->err_size, "%s:%lu: not a valid LDIF record", r->path,
                         r->rec_line);
            }
            return -1;
        }
        if (rc == 0) {
            n = record_attrs(&lr, attrs, &r->sink->attrs_left_out);
            rc = last ? r->sink->partial(r->sink->ctx, lr.lr_dn.bv_val, r->rec_line, attrs, n, true)
                      : r->sink->entry(r->sink->ctx, lr.lr_dn.bv_val, NULL, attrs, n);
            r->sink->attrs_left_out = 0;
            ldap_ldif_record_done(&lr);
            return rc != 0 ? -1 : 0;
        }
    }
    /* Cut inside the record: what was read before its last logical line (which may
     * be cut short) is looked at for its key, never taken as the entry. */
    r->rec.len = r->last_logical;
    r->rec.p[r->rec.len] = '\0';
    rc = r->rec.len > 0 ? parse_record(r->rec.p, r->rec.len, r->rec_line, &lr) : -1;
    if (rc == 1) {
        return 0;
    }
    parsed = rc == 0;
    n = parsed ? record_attrs(&lr, attrs, &r->sink->attrs_left_out) : 0;
    rc = r->sink->partial(r->sink->ctx, parsed ? lr.lr_dn.bv_val : NULL, r->rec_line, attrs, n,
                          false);
    if (parsed) {
        ldap_ldif_record_done(&lr);
    }
    r->sink->attrs_left_out = 0;
    return rc != 0 ? -1 : 0;
}

int
lsync_read_ldif(const char *path, struct lsync_sink *sink, char *err, size_t err_size)
{
    struct reader r = { .path = path, .sink = sink, .err = err, .err_size = err_size };
    bool comment = false; /* the logical line being read is a comment */
    bool index_checked = false;
    ssize_t len;
    int ret = 0;

    r.f = fopen(path, "rb");
    if (r.f == NULL) {
        snprintf(err, err_size, "%s: cannot open", path);
        return -1;
    }
    while (ret == 0 && (len = next_line(&r)) >= 0) {
        if (len == 0) {
            /* A blank line ends the record. */
            comment = false;
            ret = end_record(&r, false);
            r.rec.len = 0;
            index_checked = false;
            continue;
        }
        if (r.line[0] == ' ' && comment) {
            continue; /* a folded comment */
        }
        comment = r.line[0] == '#';
        if (comment) {
            continue;
        }
        if (r.line[0] != ' ') {
            if (r.rec.len == 0 && !index_checked) {
                /* An index line before a record (as some tools write): skipped. */
                index_checked = true;
                if (strspn(r.line, "0123456789") == (size_t)len) {
                    continue;
                }
            }
            if (r.rec.len == 0) {
                r.rec_line = r.lineno;
                if (strncasecmp(r.line, "include:", 8) == 0) {
                    snprintf(err, err_size, "%s:%lu: include: lines are not accepted", path,
                             r.lineno);
                    ret = -1;
                    break;
                }
            }
            r.last_logical = r.rec.len;
        } else if (r.rec.len == 0) {
            snprintf(err, err_size, "%s:%lu: a continued line starts a record", path, r.lineno);
            ret = -1;
            break;
        }
        if (r.rec.len + (size_t)len >= MAX_RECORD) {
            snprintf(err, err_size, "%s:%lu: a record of over %d bytes", path, r.rec_line,
                     MAX_RECORD);
            ret = -1;
            break;
        }
        r.rec_cut = r.cut_line;
        r.line[len] = '\n'; /* in place of the NUL: one copy of the line and its end */
        util_buf_put(&r.rec, r.line, (size_t)len + 1);
    }
    if (ret == 0 && ferror(r.f)) {
        snprintf(err, err_size, "%s: line %lu: cannot read the file", path, r.lineno);
        ret = -1;
    }
    if (ret == 0 && r.lineno == 0) {
        snprintf(err, err_size, "%s: empty", path);
        ret = -1;
    }
    if (ret == 0) {
        ret = end_record(&r, true);
    }
    free(r.rec.p);
    free(r.line);
    fclose(r.f);
    return ret;
}
