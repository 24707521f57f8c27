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

/**
 * Whether an address is global unicast, by one table of the IANA special-purpose
 * address registries (IPv4 and IPv6): loopback, private, shared, link-local,
 * site-local, unique-local, documentation, benchmarking, multicast, reserved, the
 * IETF protocol blocks (Teredo, ORCHID, ...) are not; IPv6 outside 2000::/3 is not;
 * IPv4-mapped (::ffff:0:0/96), IPv4-compatible (::/96), NAT64 (64:ff9b::/96) and
 * 6to4 (2002::/16) addresses are judged by the IPv4 address they carry.
 *
 * @param family  AF_INET (addr: 4 bytes) or AF_INET6 (16 bytes); any other is not global
 */
bool net_addr_is_global(int family, const unsigned char *addr);

/** net_addr_is_global on a numeric address text; false when it is not one. */
bool net_text_is_global(const char *addr);

#endif
