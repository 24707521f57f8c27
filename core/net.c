#include "core/net.h"

#include <arpa/inet.h>
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
