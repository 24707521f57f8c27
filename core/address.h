/* 3PID addresses as the spec normalises them: e-mail (case-folded) and msisdn (E.164). */
#ifndef ANN_CORE_ADDRESS_H
#define ANN_CORE_ADDRESS_H

#include "core/util.h"

/** Prepares case folding (a UTF-8 locale). Call once before any other function here. */
void addr_init(void);
void addr_shutdown(void);

/**
 * Checks an e-mail address and normalises it as the spec asks: the whole
 * address lower-cased (Unicode), refused when it has characters that could
 * change a mail header or an SMTP command.
 * @param[out] out  the normalised address, owned by the caller
 * @return 0, or -1 when in is not an acceptable address
 */
int addr_email_normalise(const char *in, char **out) ANN_MUST_CHECK;

/**
 * Normalises an address of a medium: e-mail as above, msisdn as E.164 digits.
 * @return 0, or -1 for an unknown medium or an invalid address; out owned
 */
int addr_normalise(const char *medium, const char *address, char **out) ANN_MUST_CHECK;

#endif
