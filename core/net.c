/*
 * IP addresses and CIDR ranges: parsing, membership in a configured list, the check of CIDR
 * lists in the configuration, and whether an address is globally reachable (the IANA
 * special-purpose address registries).
 */
#include "core/net.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int
net_cidr_parse(const char *text, struct net_cidr *out)
{
    char buf[64];
    char *slash;
    long prefix = -1;

    memset(out, 0, sizeof(*out));
    if (text == NULL || strlen(text) >= sizeof(buf)) {
        return -1;
    }
    strcpy(buf, text);
    slash = strchr(buf, '/');
    if (slash != NULL) {
        *slash = '\0';
        if (util_parse_long(slash + 1, 0, 128, &prefix) != 0) {
            return -1;
        }
    }
    if (inet_pton(AF_INET, buf, out->addr) == 1) {
        out->family = AF_INET;
        out->prefix = prefix < 0 ? 32 : (int)prefix;
        return out->prefix <= 32 ? 0 : -1;
    }
    if (inet_pton(AF_INET6, buf, out->addr) == 1) {
        out->family = AF_INET6;
        out->prefix = prefix < 0 ? 128 : (int)prefix;
        return 0;
    }
    return -1;
}

static bool
prefix_equal(const unsigned char *a, const unsigned char *b, int bits)
{
    int bytes = bits / 8;
    int rest = bits % 8;

    if (memcmp(a, b, (size_t)bytes) != 0) {
        return false;
    }
    return rest == 0 || ((a[bytes] ^ b[bytes]) & (0xff << (8 - rest))) == 0;
}

bool
net_in_list(const char *addr, const json_t *list)
{
    struct net_cidr a;
    size_t i;
    json_t *item;

    if (net_cidr_parse(addr, &a) != 0) {
        return false;
    }
    json_array_foreach (list, i, item) {
        struct net_cidr c;

        if (net_cidr_parse(json_string_value(item), &c) == 0 && c.family == a.family &&
            prefix_equal(a.addr, c.addr, c.prefix)) {
            return true;
        }
    }
    return false;
}

const char *
net_check_cidr_list(const json_t *v)
{
    size_t i;
    json_t *item;

    if (!json_is_array(v)) {
        return "expected a list of addresses or CIDR ranges";
    }
    json_array_foreach (v, i, item) {
        struct net_cidr c;

        if (net_cidr_parse(json_string_value(item), &c) != 0) {
            return "not an IP address or CIDR range";
        }
    }
    return NULL;
}

/* What a special-purpose block means for a destination we are about to call. */
enum special_kind {
    SPECIAL_REFUSE,   /* not global: never called unless private addresses are allowed */
    SPECIAL_V4_AT_12, /* carries an IPv4 address in its last 4 bytes: judged by it */
    SPECIAL_V4_AT_2,  /* 6to4: the IPv4 address is in bytes 2..5 */
};

struct special_block {
    const char *cidr;
    enum special_kind kind;
};

/* IANA IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890 and later), the
 * blocks that are not globally reachable, plus multicast and the deprecated blocks.
 * Embedding blocks come first: ::/96 must be read before ::1 would match anything. */
static const struct special_block special_blocks[] = {
    /* IPv4 */
    { "0.0.0.0/8", SPECIAL_REFUSE },       /* "this network" */
    { "10.0.0.0/8", SPECIAL_REFUSE },      /* private */
    { "100.64.0.0/10", SPECIAL_REFUSE },   /* shared address space (CGN) */
    { "127.0.0.0/8", SPECIAL_REFUSE },     /* loopback */
    { "169.254.0.0/16", SPECIAL_REFUSE },  /* link-local */
    { "172.16.0.0/12", SPECIAL_REFUSE },   /* private */
    { "192.0.0.0/24", SPECIAL_REFUSE },    /* IETF protocol assignments */
    { "192.0.2.0/24", SPECIAL_REFUSE },    /* documentation (TEST-NET-1) */
    { "192.88.99.0/24", SPECIAL_REFUSE },  /* 6to4 relay anycast (deprecated) */
    { "192.168.0.0/16", SPECIAL_REFUSE },  /* private */
    { "198.18.0.0/15", SPECIAL_REFUSE },   /* benchmarking */
    { "198.51.100.0/24", SPECIAL_REFUSE }, /* documentation (TEST-NET-2) */
    { "203.0.113.0/24", SPECIAL_REFUSE },  /* documentation (TEST-NET-3) */
    { "224.0.0.0/4", SPECIAL_REFUSE },     /* multicast */
    { "240.0.0.0/4", SPECIAL_REFUSE },     /* reserved, and 255.255.255.255 broadcast */
    /* IPv6 */
    { "::ffff:0:0/96", SPECIAL_V4_AT_12 }, /* IPv4-mapped */
    { "::/96", SPECIAL_V4_AT_12 },         /* IPv4-compatible (deprecated); :: and ::1 too */
    { "64:ff9b::/96", SPECIAL_V4_AT_12 },  /* NAT64 well-known prefix */
    { "64:ff9b:1::/48", SPECIAL_REFUSE },  /* local-use NAT64 */
    { "100::/64", SPECIAL_REFUSE },        /* discard-only */
    { "2001::/32", SPECIAL_REFUSE },       /* Teredo */
    { "2001:2::/48", SPECIAL_REFUSE },     /* benchmarking */
    { "2001:10::/28", SPECIAL_REFUSE },    /* ORCHID (deprecated) */
    { "2001:20::/28", SPECIAL_REFUSE },    /* ORCHIDv2 */
    { "2001::/23", SPECIAL_REFUSE },       /* the rest of the IETF protocol assignments */
    { "2001:db8::/32", SPECIAL_REFUSE },   /* documentation */
    { "2002::/16", SPECIAL_V4_AT_2 },      /* 6to4 */
    { "3fff::/20", SPECIAL_REFUSE },       /* documentation */
    { "5f00::/16", SPECIAL_REFUSE },       /* segment routing (SRv6) SIDs */
    { "fc00::/7", SPECIAL_REFUSE },        /* unique local */
    { "fe80::/10", SPECIAL_REFUSE },       /* link-local */
    { "fec0::/10", SPECIAL_REFUSE },       /* site-local (deprecated) */
    { "ff00::/8", SPECIAL_REFUSE },        /* multicast */
};

static struct net_cidr special_parsed[ANN_ARRAY_LEN(special_blocks)];
static pthread_once_t special_once = PTHREAD_ONCE_INIT;

static void
parse_special(void)
{
    for (size_t i = 0; i < ANN_ARRAY_LEN(special_blocks); i++) {
        if (net_cidr_parse(special_blocks[i].cidr, &special_parsed[i]) != 0) {
            abort(); /* a typo in the table above */
        }
    }
}

bool
net_addr_is_global(int family, const unsigned char *addr)
{
    static const struct net_cidr global_unicast = { AF_INET6, { 0x20 }, 3 };

    if (family != AF_INET && family != AF_INET6) {
        return false;
    }
    pthread_once(&special_once, parse_special);
    for (size_t i = 0; i < ANN_ARRAY_LEN(special_blocks); i++) {
        const struct net_cidr *c = &special_parsed[i];

        if (c->family != family || !prefix_equal(addr, c->addr, c->prefix)) {
            continue;
        }
        switch (special_blocks[i].kind) {
        case SPECIAL_V4_AT_12:
            return net_addr_is_global(AF_INET, addr + 12);
        case SPECIAL_V4_AT_2:
            return net_addr_is_global(AF_INET, addr + 2);
        case SPECIAL_REFUSE:
            return false;
        }
    }
    /* Outside 2000::/3, IPv6 is reserved by the IETF: nothing global lives there. */
    return family == AF_INET || prefix_equal(addr, global_unicast.addr, global_unicast.prefix);
}

bool
net_text_is_global(const char *addr)
{
    unsigned char buf[16];

    if (addr != NULL && inet_pton(AF_INET, addr, buf) == 1) {
        return net_addr_is_global(AF_INET, buf);
    }
    if (addr != NULL && inet_pton(AF_INET6, addr, buf) == 1) {
        return net_addr_is_global(AF_INET6, buf);
    }
    return false;
}
