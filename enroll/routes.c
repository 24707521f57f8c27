/*
 * The enrollment module's routes: account, terms, e-mail validation, getValidated3pid, bind,
 * unbind, store-invite, sign-ed25519 and ephemeral key checks, in their v2 form and their v1
 * form without an access token.
 */
#include "core/util.h"
#include "enroll/enroll.h"
#include "enroll/internal.h"

#define V1 "/_matrix/identity/api/v1"
#define V2 "/_matrix/identity/v2"

const struct route enr_routes[] = {
    { "POST", V2 "/account/register", enr_account_register_post, ROUTE_JSON_BODY },
    { "GET", V2 "/account", enr_account_get, ROUTE_AUTH },
    { "POST", V2 "/account/logout", enr_account_logout_post,
      ROUTE_AUTH | ROUTE_NO_TERMS | ROUTE_JSON_BODY | ROUTE_BODY_OPTIONAL },
    { "GET", V2 "/terms", enr_terms_get, 0 },
    { "POST", V2 "/validate/email/requestToken", enr_email_request_token_post,
      ROUTE_AUTH | ROUTE_JSON_BODY },
    { "POST", V2 "/validate/email/submitToken", enr_email_submit_token_post,
      ROUTE_AUTH | ROUTE_JSON_BODY },
    /* The link in the mail: opened in a browser, so without a token. */
    { "GET", V2 "/validate/email/submitToken", enr_email_submit_token_get, 0 },
    { "GET", V2 "/3pid/getValidated3pid", enr_validated3pid_get, ROUTE_AUTH },
    { "POST", V2 "/3pid/bind", enr_bind_post, ROUTE_AUTH | ROUTE_JSON_BODY },
    /* Authorised by the session or the homeserver's signature, not by a token. */
    { "POST", V2 "/3pid/unbind", enr_unbind_post, ROUTE_JSON_BODY },
    { "POST", V2 "/store-invite", enr_store_invite_post, ROUTE_AUTH | ROUTE_JSON_BODY },
    { "POST", V2 "/sign-ed25519", enr_sign_ed25519_post, ROUTE_AUTH | ROUTE_JSON_BODY },
    { "GET", V2 "/pubkey/ephemeral/isvalid", enr_ephemeral_isvalid_get, 0 },
    /* v1: no authentication (homeservers still call getValidated3pid this way) */
    { "POST", V1 "/validate/email/requestToken", enr_email_request_token_post, ROUTE_JSON_BODY },
    { "POST", V1 "/validate/email/submitToken", enr_email_submit_token_post, ROUTE_JSON_BODY },
    { "GET", V1 "/validate/email/submitToken", enr_email_submit_token_get, 0 },
    { "GET", V1 "/3pid/getValidated3pid", enr_validated3pid_get, 0 },
    /* Without a token: homeservers listed in legacy.homeservers only (enroll/legacy.c). */
    { "POST", V1 "/3pid/bind", enr_bind_v1_post, ROUTE_JSON_BODY },
    { "POST", V1 "/3pid/unbind", enr_unbind_post, ROUTE_JSON_BODY },
    { "POST", V1 "/store-invite", enr_store_invite_v1_post, ROUTE_JSON_BODY },
    { "POST", V1 "/sign-ed25519", enr_sign_ed25519_post, ROUTE_JSON_BODY },
    { "GET", V1 "/pubkey/ephemeral/isvalid", enr_ephemeral_isvalid_get, 0 },
    { "POST", V2 "/terms", enr_terms_post, ROUTE_AUTH | ROUTE_NO_TERMS | ROUTE_JSON_BODY },
};
const size_t enr_n_routes = ANN_ARRAY_LEN(enr_routes);
