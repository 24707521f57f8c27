/*
 * Enrollment: identity-service accounts and terms, e-mail validation sessions and
 * their landing pages, 3PID bind and unbind, invitations and the onbind callback to
 * homeservers. SMS (msisdn) validation is not offered.
 */
#ifndef ANN_ENROLL_ENROLL_H
#define ANN_ENROLL_ENROLL_H

#include <stdbool.h>
#include <stddef.h>

#include "core/cfg.h"
#include "core/http.h"
#include "core/router.h"

/** The configuration sections of this module (legacy, terms, validation), for
 *  cfg_register() before cfg_load(). */
extern const struct cfg_section enr_config_sections[];
extern const size_t enr_config_n_sections;

/** The routes this module serves (static table). */
extern const struct route enr_routes[];
extern const size_t enr_n_routes;

/**
 * Prepares the module for serving: registers its SQL statements, reads the
 * terms policies and loads the mail and page templates named by the installed
 * configuration. Call once before http_start.
 * @return 0, or -1 with a message in err
 */
int enr_init(char *err, size_t err_size);

/**
 * Reads the mail and page templates of cfg's mail.templates_dir as serve would, and
 * checks that each names only variables its handler passes (check-config).
 * @return 0, or -1 with "FILE:LINE: ..." or the unreadable file in err
 */
int enr_templates_check(const struct cfg *cfg, char *err, size_t err_size);
void enr_shutdown(void);

/**
 * Loads the mail and page templates of the installed configuration's mail.templates_dir,
 * checked as serve checks them, for a command that renders mail (annuaire invite); serve
 * has them from enr_init. @return 0, or -1 with "FILE:LINE: ..." or the unreadable file in err
 */
int enr_templates_use(char *err, size_t err_size);

/* What the mail of a VIP invitation shows (strings borrowed; NULL renders empty). */
struct enr_vip_mail {
    const char *lang;                /* "fr" (also when NULL or unknown) or "en" */
    const char *address;             /* the recipient, in its canonical form */
    const char *inviter;             /* the inviter's name */
    const char *note;                /* the admin's note */
    const char *homeserver;          /* where to register: the homeserver as routed */
    const char *web_client_location; /* the web client's URL */
    long long expires_at;            /* the invitation's end, seconds since the epoch */
};

/**
 * Renders the mail of a VIP invitation from the vip_<lang>.eml template (loaded by
 * enr_init or enr_templates_use), the expiry written as people read it in that language
 * (UTC), the rest as given.
 * @return the message (caller frees), or NULL when the templates are not loaded or a value
 *         holds a line break (mail_render)
 */
char *enr_vip_mail_render(const struct enr_vip_mail *m);

/** Starts and stops the worker that calls homeservers back after binds of invited addresses. */
int enr_onbind_start(void);
void enr_onbind_stop(void);

/** Starts and stops the worker that expires pending invitations past their expiry. */
int enr_expiry_start(void);
void enr_expiry_stop(void);

/** The access-token checker to install with http_set_auth(). */
enum reply_status enr_authenticate(struct http_req *r, const char *token, bool check_terms);

#endif
