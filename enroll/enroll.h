/*
 * Enrollment: e-mail (later SMS) validation sessions, 3PID bind and unbind,
 * invitations (store-invite, VIP invitations, externals), accounts and terms,
 * landing pages. Routes and store arrive with the identity API.
 */
#ifndef ANN_ENROLL_ENROLL_H
#define ANN_ENROLL_ENROLL_H

#endif
