/* 3PID addresses in their one canonical form: e-mail (IDNA domain, case-folded) and msisdn (E.164).
 */
#ifndef ANN_CORE_ADDRESS_H
#define ANN_CORE_ADDRESS_H

#include "core/util.h"

/** Do nothing: the functions below need no preparation (libunistring and libidn2 use no
 *  locale, nothing is cached). Call none of them; kept only until their last caller,
 *  ldap-sync/run.c, drops its calls. */
void addr_init(void);
void addr_shutdown(void);

/**
 * The one canonical form of an e-mail address, the form every session, binding,
 * invitation, lookup hash, rate-limit key and directory entry uses, and the address
 * mail goes to (the rule: README.md, "E-mail addresses"). In short: valid NFC UTF-8
 * with one '@' and no header or SMTP-dangerous character; no invisible, control,
 * unassigned, compatibility or default-ignorable character; no non-ASCII character
 * whose case folding contains ASCII; the domain in lower-case A-label form (UTS 46,
 * non-transitional), a non-ASCII label never mapping onto an ASCII one; the local part
 * case-folded (ASCII letters lower-cased). canonical(canonical(x)) == canonical(x).
 * Thread-safe, no locale.
 * @param[out] out  the canonical address, owned by the caller; NULL on refusal
 * @return 0, or -1 when in is not an acceptable address
 */
int addr_email_normalise(const char *in, char **out) ANN_MUST_CHECK;

/**
 * addr_email_normalise, and why an address is refused.
 * @param[out] why  on -1, a static English reason (never the address); may be NULL
 * @return 0 or -1 as addr_email_normalise
 */
int addr_email_check(const char *in, char **out, const char **why) ANN_MUST_CHECK;

/**
 * Normalises an address of a medium: e-mail as above, msisdn as E.164 digits.
 * @return 0, or -1 for an unknown medium or an invalid address; out owned
 */
int addr_normalise(const char *medium, const char *address, char **out) ANN_MUST_CHECK;

#endif
