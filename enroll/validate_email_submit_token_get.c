/*
 * GET /_matrix/identity/v2/validate/email/submitToken (and api/v1): the link in the mail;
 * validates the session, then redirects to next_link or shows a success or failure page.
 */
#include <stdlib.h>
#include <string.h>

#include "core/cfg.h"
#include "core/http.h"
#include "enroll/internal.h"

/* The link in the verification mail: a page for people, or a redirect to next_link. */
int
enr_email_submit_token_get(struct http_req *r, const json_t *body)
{
    const char *sid = http_query(r, "sid");
    const char *secret = http_query(r, "client_secret");
    const char *token = http_query(r, "token");
    enum enr_lang lang = enr_lang_pick(http_header(r, MHD_HTTP_HEADER_ACCEPT_LANGUAGE));
    const struct util_var vars[] = { { "brand", cfg_get()->mail.brand } };
    struct enr_session s = { 0 };
    enum enr_submit_result result = ENR_SUBMIT_NO_SESSION;
    char *page;
    unsigned status;
    int ret;

    if (sid == NULL || secret == NULL || token == NULL) {
        return http_reply_ec(r, E_MISSING_PARAMS, "sid, client_secret and token are required");
    }
    if (strlen(sid) <= 255 && strlen(secret) <= 255 && strlen(token) <= 255 &&
        enr_client_secret_ok(sid) && enr_client_secret_ok(secret) &&
        enr_session_submit(r->db, sid, secret, token, &result, &s) != 0) {
        return http_reply_ec(r, E_DB_UNAVAILABLE, NULL);
    }
    if (result == ENR_SUBMIT_OK && s.next_link != NULL) {
        ret = http_reply_redirect(r, s.next_link);
        enr_session_clear(&s);
        return ret;
    }
    status = result == ENR_SUBMIT_OK           ? MHD_HTTP_OK
             : result == ENR_SUBMIT_NO_SESSION ? MHD_HTTP_NOT_FOUND
                                               : MHD_HTTP_BAD_REQUEST;
    page = util_fill(
        enr_template(result == ENR_SUBMIT_OK ? ENR_TPL_VALIDATION_OK : ENR_TPL_VALIDATION_FAILED,
                     lang),
        vars, 1, true);
    ret = http_reply_raw(r, status, "text/html; charset=utf-8", page, strlen(page));
    free(page);
    enr_session_clear(&s);
    return ret;
}
