/*
 * Reading an LDIF export (lsync_read_ldif): each entry record to the sink, a record the file
 * ends inside to its partial(); a file that is not an export of entries is refused with
 * file:line.
 */
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
 *
 * What is not an export of entries refuses the whole file, with file:line: a NUL byte,
 * a carriage return that does not end a CRLF line (the first line's end says which
 * the file uses), UTF-16, a line over MAX_RECORD, a record that is not an entry (no dn,
 * a control: line, a changetype: other than add). A UTF-8 byte-order mark is skipped.
 *
 * Every record ends with a blank line (ldapsearch and slapcat write one after each):
 * a file that ends inside a record (no final line break, or a last record that no
 * blank line follows) is a cut export. That record is handed to the sink's partial(),
 * never taken as an entry, and so is a file cut inside a line between records.
 */

/* Attributes of one LDIF record, gathered from its "add" modifications; a record with
 * more is handed on whole, marked (the sink rejects it). */
#define MAX_ATTRS  256
/* A record bigger than this is no directory entry; no line is read past it either. */
#define MAX_RECORD (16 * 1024 * 1024)
/* The file is read in blocks of this size. */
#define BLOCK      (64 * 1024)

struct reader {
    const char *path;
    FILE *f;
    struct lsync_sink *sink;
    char *block; /* BLOCK bytes read from the file, from pos to end not yet used */
    size_t pos, end;
    bool started; /* the first block was read (and its byte-order mark skipped) */
    char *line;
    size_t line_cap;
    unsigned long lineno;
    int crlf;            /* the file's line ends: -1 not known yet, 0 LF, 1 CRLF */
    bool cut_line;       /* the file's last line has no line break */
    struct util_buf rec; /* the current record's lines, '\n'-terminated */
    unsigned long rec_line;
    size_t last_logical; /* where the record's last logical line starts in rec */
    size_t *skips;       /* where a comment line was left out of rec (offsets) */
    size_t n_skips, skips_cap;
    char *err;
    size_t err_size;
};

/* Refills the block. @return the bytes now in it: 0 at the end of the file (or on a
 * read error: ferror), -1 when the file is no text LDIF (err set) */
static ssize_t
fill_block(struct reader *r)
{
    size_t n = fread(r->block, 1, BLOCK, r->f);

    r->pos = 0;
    r->end = n;
    if (!r->started) {
        r->started = true;
        if (n >= 2 &&
            (((unsigned char)r->block[0] == 0xff && (unsigned char)r->block[1] == 0xfe) ||
             ((unsigned char)r->block[0] == 0xfe && (unsigned char)r->block[1] == 0xff))) {
            snprintf(r->err, r->err_size, "%s:1: a UTF-16 file: an export is UTF-8 text", r->path);
            return -1;
        }
        if (n >= 3 && memcmp(r->block, "\xef\xbb\xbf", 3) == 0) {
            r->pos = 3; /* a UTF-8 byte-order mark */
        }
    }
    return (ssize_t)(r->end - r->pos);
}

/*
 * Reads one physical line into r->line without its line break.
 * @return its length, -1 at the end of the file, -2 when the file is refused (err set)
 */
static ssize_t
next_line(struct reader *r)
{
    size_t len = 0;
    bool newline = false;

    for (;;) {
        if (r->pos == r->end) {
            ssize_t n = fill_block(r);

            if (n < 0) {
                return -2;
            }
            if (n == 0) {
                break;
            }
        }
        const char *from = r->block + r->pos;
        const char *nl = memchr(from, '\n', r->end - r->pos);
        size_t take = nl != NULL ? (size_t)(nl - from) : r->end - r->pos;

        if (len + take >= MAX_RECORD) {
            snprintf(r->err, r->err_size, "%s:%lu: a line of over %d bytes", r->path, r->lineno + 1,
                     MAX_RECORD);
            return -2;
        }
        if (len + take + 2 > r->line_cap) {
            r->line_cap = (len + take + 2) * 2;
            r->line = xrealloc(r->line, r->line_cap);
        }
        memcpy(r->line + len, from, take);
        len += take;
        r->pos += take;
        if (nl != NULL) {
            r->pos++;
            newline = true;
            break;
        }
    }
    if (len == 0 && !newline) {
        return -1;
    }
    r->lineno++;
    if (memchr(r->line, '\0', len) != NULL) {
        snprintf(r->err, r->err_size, "%s:%lu: a NUL byte: not an LDIF export", r->path, r->lineno);
        return -2;
    }
    if (newline && r->crlf < 0) {
        r->crlf = len > 0 && r->line[len - 1] == '\r';
    }
    if (r->crlf == 1 && len > 0 && r->line[len - 1] == '\r') {
        len--;
    } else if (r->crlf == 1 && newline) {
        snprintf(r->err, r->err_size, "%s:%lu: a line that ends in LF in a file of CRLF lines",
                 r->path, r->lineno);
        return -2;
    }
    if (memchr(r->line, '\r', len) != NULL) {
        snprintf(r->err, r->err_size,
                 "%s:%lu: a carriage return that does not end a CRLF line: not an LDIF export",
                 r->path, r->lineno);
        return -2;
    }
    if (!newline) {
        r->cut_line = true;
    }
    r->line[len] = '\0';
    return (ssize_t)len;
}

/* A comment line left out of the record here: later line numbers count it. */
static void
note_skip(struct reader *r)
{
    if (r->n_skips == r->skips_cap) {
        r->skips_cap = r->skips_cap ? r->skips_cap * 2 : 16;
        r->skips = xrealloc(r->skips, r->skips_cap * sizeof(*r->skips));
    }
    r->skips[r->n_skips++] = r->rec.len;
}

/* The file's line number of the line that starts at off in the record. */
static unsigned long
line_at(const struct reader *r, size_t off)
{
    unsigned long line = r->rec_line;

    for (const char *p = r->rec.p, *end = r->rec.p + off;
         (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++) {
        line++;
    }
    for (size_t i = 0; i < r->n_skips && r->skips[i] <= off; i++) {
        line++;
    }
    return line;
}

/*
 * Finds a URL value ("attr:< file:///...") in a record, unfolding lines as LDIF
 * does (a line break followed by one space continues the line, anywhere in it).
 * @param[out] at    where the line of that value starts in rec
 * @param[out] attr  its attribute description
 * @return true when the record has one
 */
static bool
url_value(const char *rec, size_t len, size_t *at, char *attr, size_t attr_size)
{
    const char *p = rec, *end = rec + len;

    while (p < end) {
        const char *start = p;
        size_t n = 0;

        /* The attribute description, up to the colon. */
        while (p < end && *p != ':') {
            if (*p == '\n') {
                if (p + 1 < end && p[1] == ' ') {
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
                p += 2;
            }
            if (p < end && *p == '<') {
                *at = (size_t)(start - rec);
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
            p = nl + 1;
            if (p >= end || *p != ' ') {
                break;
            }
        }
    }
    return false;
}

/* Where the first line of rec (len bytes, lines ending in \n) starts that begins an
 * attribute but has no attribute description before its colon (letters, digits, '-',
 * ';', '.'); -1 when there is none. libldap 2.5 dereferences NULL on a line it parses
 * without a name (": y", "-", "\f:"). Continuations (a leading space) and comments are
 * not attribute lines. */
static long
nameless_line(const char *rec, size_t len)
{
    for (size_t i = 0; i < len;) {
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
                return (long)i;
            }
        }
        i = end + 1;
    }
    return -1;
}

/* The logical line after the one at p in rec (end: rec's end). */
static const char *
next_logical(const char *p, const char *end)
{
    for (;;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));

        if (nl == NULL || nl + 1 >= end) {
            return end;
        }
        p = nl + 1;
        if (*p != ' ') {
            return p;
        }
    }
}

/* Whether the logical line at p starts with the attribute name (and its colon). */
static bool
starts_with(const char *p, const char *end, const char *name)
{
    size_t n = strlen(name);

    return (size_t)(end - p) > n && strncasecmp(p, name, n) == 0 && p[n] == ':';
}

/* Whether the logical line at p is "changetype: add" (as ldifde writes before each
 * entry): an add record carries the whole entry. */
static bool
changetype_add(const char *p, const char *end)
{
    p += strlen("changetype:");
    while (p < end && *p == ' ') {
        p++;
    }
    return (size_t)(end - p) >= 3 && strncasecmp(p, "add", 3) == 0 &&
           (p + 3 == end || p[3] == '\n' || p[3] == ' ');
}

/*
 * What the record's text is: an entry (a "dn:" line first, after a "version:" line
 * perhaps, and no "control:" line nor any "changetype:" but add after it), the version
 * line alone, or neither. @return 0 an entry, 1 the version line alone, -1 not an entry
 */
static int
record_shape(const char *rec, size_t len)
{
    const char *p = rec, *end = rec + len;

    if (starts_with(p, end, "version")) {
        p = next_logical(p, end);
        if (p == end) {
            return 1;
        }
    }
    if (!starts_with(p, end, "dn")) {
        return -1;
    }
    p = next_logical(p, end);
    if (p < end && starts_with(p, end, "changetype")) {
        return changetype_add(p, end) ? 0 : -1;
    }
    return p < end && starts_with(p, end, "control") ? -1 : 0;
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

/* The record's attributes: in attrs (MAX_ATTRS of them), or past that many in *heap
 * (owned by the caller). @return how many */
static size_t
record_attrs(const LDIFRecord *lr,
             struct lsync_attr *attrs,
             struct lsync_attr **heap,
             const struct lsync_attr **out)
{
    size_t n = 0, total = 0;
    struct lsync_attr *to = attrs;

    while (lr->lrop_mods != NULL && lr->lrop_mods[total] != NULL) {
        total++;
    }
    if (total > MAX_ATTRS) {
        *heap = xcalloc(total, sizeof(**heap));
        to = *heap;
    }
    for (; n < total; n++) {
        to[n].name = lr->lrop_mods[n]->mod_type;
        to[n].values = (const struct berval *const *)lr->lrop_mods[n]->mod_bvalues;
    }
    *out = to;
    return n;
}

/* The file ends inside a line between records (at line). @return 0 or -1 */
static int
cut_between(struct reader *r)
{
    return r->sink->partial(r->sink->ctx, NULL, r->lineno, NULL, 0) != 0 ? -1 : 0;
}

/* Hands a parsed record to fn (entry or partial, as cut). @return 0 or -1 */
static int
hand_on(struct reader *r, LDIFRecord *lr, bool cut)
{
    struct lsync_attr attrs[MAX_ATTRS];
    struct lsync_attr *heap = NULL;
    const struct lsync_attr *all;
    size_t n = record_attrs(lr, attrs, &heap, &all);
    int rc;

    r->sink->attrs_over = n > MAX_ATTRS ? n - MAX_ATTRS : 0;
    rc = cut ? r->sink->partial(r->sink->ctx, lr->lr_dn.bv_val, r->rec_line, all, n)
             : r->sink->entry(r->sink->ctx, lr->lr_dn.bv_val, NULL, all, n);
    r->sink->attrs_over = 0;
    free(heap);
    ldap_ldif_record_done(lr);
    return rc != 0 ? -1 : 0;
}

static int
not_entries(struct reader *r)
{
    snprintf(r->err, r->err_size,
             "%s:%lu: not an export of entries (a record without a dn, or a change record)",
             r->path, r->rec_line);
    return -1;
}

/*
 * Hands the record in r->rec to the sink. at_eof: the file ends inside it (no blank
 * line follows it). @return 0, or -1 to stop (err set, or the sink's error)
 */
static int
end_record(struct reader *r, bool at_eof)
{
    size_t at;
    char attr[80];
    LDIFRecord lr;
    int shape;
    int rc;

    if (r->rec.len == 0) {
        return 0;
    }
    util_buf_put(&r->rec, "", 1); /* NUL-terminated for the parser, not counted below */
    r->rec.len--;
    if (memchr(r->rec.p, '<', r->rec.len) != NULL && /* most records have none */
        url_value(r->rec.p, r->rec.len, &at, attr, sizeof(attr))) {
        char esc[LOG_ESC_SIZE];

        snprintf(r->err, r->err_size,
                 "%s:%lu: %s: a URL value (attr:< URL) is not accepted in an export; the file is "
                 "refused",
                 r->path, line_at(r, at), log_esc(attr, esc));
        return -1;
    }
    shape = record_shape(r->rec.p, r->rec.len);
    if (shape == 1) {
        return at_eof && r->cut_line ? cut_between(r) : 0; /* "version: 1" */
    }
    if (!at_eof) {
        if (shape < 0) {
            return not_entries(r);
        }
        rc = parse_record(r->rec.p, r->rec.len, r->rec_line, &lr);
        if (rc == 1) {
            return not_entries(r);
        }
        if (rc < 0) {
            long bad = nameless_line(r->rec.p, r->rec.len);

            if (bad >= 0) {
                snprintf(r->err, r->err_size, "%s:%lu: not an attribute line (no name and colon)",
                         r->path, line_at(r, (size_t)bad));
            } else {
                snprintf(r->err, r->err_size, "%s:%lu: not a valid LDIF record", r->path,
                         r->rec_line);
            }
            return -1;
        }
        return hand_on(r, &lr, false);
    }
    /* Cut inside the record: what was read before its last logical line (which may
     * be cut short, or lack its folded continuation) is looked at for its key, never
     * taken as the entry. */
    r->rec.len = r->last_logical;
    r->rec.p[r->rec.len] = '\0';
    shape = r->rec.len > 0 ? record_shape(r->rec.p, r->rec.len) : 1;
    if (shape < 0) {
        return not_entries(r);
    }
    rc = shape == 0 ? parse_record(r->rec.p, r->rec.len, r->rec_line, &lr) : -1;
    if (rc == 1) {
        return not_entries(r);
    }
    if (rc == 0) {
        return hand_on(r, &lr, true);
    }
    return r->sink->partial(r->sink->ctx, NULL, r->rec_line, NULL, 0) != 0 ? -1 : 0;
}

int
lsync_read_ldif(const char *path, struct lsync_sink *sink, char *err, size_t err_size)
{
    struct reader r = { .path = path, .sink = sink, .crlf = -1, .err = err, .err_size = err_size };
    bool comment = false; /* the logical line being read is a comment */
    bool index_checked = false;
    ssize_t len;
    int ret = 0;

    r.f = fopen(path, "rb");
    if (r.f == NULL) {
        snprintf(err, err_size, "%s: cannot open", path);
        return -1;
    }
    r.block = xmalloc(BLOCK);
    while (ret == 0 && (len = next_line(&r)) != -1) {
        if (len == -2) {
            ret = -1;
            break;
        }
        if (len == 0) {
            /* A blank line ends the record. */
            comment = false;
            ret = end_record(&r, false);
            r.rec.len = 0;
            r.n_skips = 0;
            index_checked = false;
            continue;
        }
        if ((r.line[0] == ' ' && comment) || r.line[0] == '#') {
            comment = true; /* a comment, folded perhaps */
            if (r.rec.len > 0) {
                note_skip(&r);
            }
            continue;
        }
        comment = false;
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
        ret = r.rec.len > 0 ? end_record(&r, true) : r.cut_line ? cut_between(&r) : 0;
    }
    free(r.skips);
    free(r.rec.p);
    free(r.line);
    free(r.block);
    fclose(r.f);
    return ret;
}
