/*
 * Enrollment: identity-service accounts and terms today; e-mail (later SMS)
 * validation sessions, 3PID bind and unbind, invitations and landing pages to
 * come.
 */
#ifndef ANN_ENROLL_ENROLL_H
#define ANN_ENROLL_ENROLL_H

#include <stdbool.h>
#include <stddef.h>

#include "core/http.h"
#include "core/router.h"

/** The routes this module serves (static table). */
extern const struct route enr_routes[];
extern const size_t enr_n_routes;

/**
 * Prepares the module for serving: registers its SQL statements and reads the
 * terms policies from the installed configuration. Call once before http_start.
 */
void enr_init(void);
void enr_shutdown(void);

/** The access-token checker to install with http_set_auth(). */
enum reply_status enr_authenticate(struct http_req *r, const char *token, bool check_terms);

#endif
