/* IP addresses and CIDR ranges (IPv4 and IPv6). */
#ifndef ANN_CORE_NET_H
#define ANN_CORE_NET_H

#include <stdbool.h>

#include <jansson.h>

#include "core/util.h"

struct net_cidr {
    int family; /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    int prefix;
};

/** Parses "10.0.0.0/8", "2001:db8::/32" or a bare address (a /32 or /128). @return 0 or -1 */
int net_cidr_parse(const char *text, struct net_cidr *out) ANN_MUST_CHECK;

/** Whether the numeric address text falls in any CIDR of list (a JSON array of strings). */
bool net_in_list(const char *addr, const json_t *list);

/** For configuration checks: NULL when v is a list of valid CIDRs, else what is wrong. */
const char *net_check_cidr_list(const json_t *v);

#endif
