/*
 * The audit log's reading, shared by GET /_annuaire/admin/v1/audit and `annuaire audit`:
 * the since argument (an ISO 8601 time or a duration before now) and a page of entries
 * as JSON, newest first, with the cursor of the next page.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin/admin.h"
#include "core/store.h"
#include "core/util.h"

/* n digits at *p as a number, *p moved past them. @return 0, or -1 */
static int
digits(const char **p, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i])) {
            return -1;
        }
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

/* "90s", "30m", "24h", "7d", "2w": seconds before now. @return 0, or -1 */
static int
parse_duration(const char *s, long long *out)
{
    static const struct {
        char unit;
        long long secs;
    } units[] = { { 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 }, { 'w', 604800 } };
    size_t n = strspn(s, "0123456789");

    if (n == 0 || n > 6 || s[n] == '\0' || s[n + 1] != '\0') {
        return -1;
    }
    for (size_t i = 0; i < ANN_ARRAY_LEN(units); i++) {
        if (s[n] == units[i].unit) {
            *out = strtoll(s, NULL, 10) * units[i].secs;
            return 0;
        }
    }
    return -1;
}

/* YYYY-MM-DD[THH:MM[:SS[.fraction]]][Z|+HH:MM|-HH:MM|+HHMM|-HHMM]; no zone: UTC.
 * @return 0, or -1 */
static int
parse_iso(const char *s, long long *out)
{
    struct tm tm = { 0 }, back;
    time_t t;
    int y, mo, d, h = 0, mi = 0, sec = 0, oh = 0, om = 0, sign = 0;
    const char *p = s;

    if (digits(&p, 4, &y) != 0 || *p++ != '-' || digits(&p, 2, &mo) != 0 || *p++ != '-' ||
        digits(&p, 2, &d) != 0) {
        return -1;
    }
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (digits(&p, 2, &h) != 0 || *p++ != ':' || digits(&p, 2, &mi) != 0) {
            return -1;
        }
        if (*p == ':') {
            p++;
            if (digits(&p, 2, &sec) != 0) {
                return -1;
            }
            if (*p == '.' || *p == ',') {
                size_t n = strspn(p + 1, "0123456789");

                if (n == 0 || n > 9) {
                    return -1;
                }
                p += 1 + n; /* dropped: the filter starts at the whole second */
            }
        }
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            sign = *p++ == '+' ? 1 : -1;
            if (digits(&p, 2, &oh) != 0) {
                return -1;
            }
            if (*p == ':') {
                p++;
            }
            if (digits(&p, 2, &om) != 0) {
                return -1;
            }
        }
    }
    if (*p != '\0' || y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
        mi > 59 || sec > 59 || oh > 23 || om > 59) {
        return -1;
    }
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    t = timegm(&tm);
    /* timegm moves 31 February on to March: such a date is no date. */
    if (gmtime_r(&t, &back) == NULL || back.tm_mday != d) {
        return -1;
    }
    *out = (long long)t - sign * (oh * 3600LL + om * 60LL);
    return 0;
}

int
adm_audit_since(const char *text, long long now, long long *out)
{
    long long secs;

    if (text == NULL || strlen(text) > 40) {
        return -1;
    }
    if (parse_duration(text, &secs) == 0) {
        *out = now - secs;
        return 0;
    }
    return parse_iso(text, out);
}

static void
add_row(void *arg, const struct store_audit_row *row)
{
    json_t *details = json_loads(row->details, 0, NULL);

    json_array_append_new(arg, json_pack("{s:I, s:s, s:s, s:s, s:s, s:s?, s:s?, s:s, s:o}", "id",
                                         (json_int_t)strtoll(row->id, NULL, 10), "at", row->at,
                                         "actor_kind", row->actor_kind, "actor", row->actor,
                                         "action", row->action, "object_kind", row->object_kind,
                                         "object_id", row->object_id, "outcome", row->outcome,
                                         "details", details != NULL ? details : json_object()));
}

enum db_status
adm_audit_list(struct db_conn *c, const struct store_audit_filter *f, json_t **out)
{
    json_t *rows = json_array();
    enum db_status st = store_audit_list(c, f, add_row, rows);

    if (st < 0) {
        json_decref(rows);
        rows = NULL;
    }
    *out = rows;
    return st;
}
