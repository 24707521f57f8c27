/*
 * The pages of the admin API's lists: ?limit= and ?from= (the opaque cursor of a previous
 * answer: the id of the last row it showed), and the answer's shape.
 */
#include <stdlib.h>
#include <string.h>

#include "admin/internal.h"

bool
adm_id_ok(const char *s)
{
    size_t n = s != NULL ? strspn(s, "0123456789") : 0;

    return n > 0 && n <= 18 && s[n] == '\0' && s[0] != '0';
}

enum reply_status
adm_page_parse(struct http_req *r, struct adm_page *out)
{
    const char *limit = http_query(r, "limit");
    const char *from = http_query(r, "from");

    out->limit = ADM_PAGE_DEFAULT;
    out->from = NULL;
    if (limit != NULL) {
        if (!adm_id_ok(limit) || strlen(limit) > 3 || strtol(limit, NULL, 10) > ADM_PAGE_MAX) {
            return http_reply_status(http_reply_ec(r, E_INVALID_PARAM, "limit: 1 to 500"));
        }
        out->limit = strtol(limit, NULL, 10);
    }
    if (from != NULL) {
        if (!adm_id_ok(from)) {
            return http_reply_status(
                http_reply_ec(r, E_INVALID_PARAM, "from: not a cursor of this list"));
        }
        out->from = from;
    }
    return RS_OK;
}

json_t *
adm_page_answer(const char *key, json_t *items, long limit)
{
    json_t *out = json_object();

    if ((long)json_array_size(items) > limit) {
        json_t *last = json_array_get(items, (size_t)limit - 1);

        json_array_remove(items, (size_t)limit);
        json_object_set_new(
            out, "next",
            json_sprintf("%" JSON_INTEGER_FORMAT, json_integer_value(json_object_get(last, "id"))));
    }
    json_object_set_new(out, key, items);
    return out;
}
