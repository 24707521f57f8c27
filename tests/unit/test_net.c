/* unit.core.net: which addresses outbound calls may reach (the special-purpose address
 * registries, IPv4 and IPv6, and the IPv4 addresses carried inside IPv6 ones). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "core/fetch.h"
#include "core/net.h"
#include "core/util.h"

struct addr_case {
    const char *addr;
    bool is_private; /* what fetch_address_is_private must say */
};

static const struct addr_case cases[] = {
    /* global */
    { "8.8.8.8", false },
    { "1.1.1.1", false },
    { "193.51.24.1", false },
    { "100.63.255.255", false },
    { "100.128.0.0", false },
    { "172.32.0.1", false },
    { "192.0.1.1", false },
    { "198.20.0.1", false },
    { "223.255.255.255", false },
    { "2001:4860:4860::8888", false },
    { "2a01:e0a:1::1", false },
    { "::ffff:8.8.8.8", false },
    { "64:ff9b::808:808", false },
    { "2002:808:808::1", false },
    /* IPv4 special purpose */
    { "0.0.0.0", true },
    { "0.1.2.3", true },
    { "10.1.2.3", true },
    { "100.64.0.1", true },
    { "127.0.0.1", true },
    { "127.255.255.254", true },
    { "169.254.169.254", true },
    { "172.16.0.1", true },
    { "172.31.255.255", true },
    { "192.0.0.8", true },
    { "192.0.2.1", true },
    { "192.88.99.1", true },
    { "192.168.1.1", true },
    { "198.18.0.1", true },
    { "198.19.255.255", true },
    { "198.51.100.7", true },
    { "203.0.113.9", true },
    { "224.0.0.1", true },
    { "239.255.255.250", true },
    { "240.0.0.1", true },
    { "255.255.255.255", true },
    /* IPv6 special purpose */
    { "::", true },
    { "::1", true },
    { "::127.0.0.1", true }, /* IPv4-compatible, loopback inside */
    { "::10.0.0.1", true },  /* IPv4-compatible, private inside */
    { "::ffff:127.0.0.1", true },
    { "::ffff:169.254.169.254", true },
    { "::ffff:0.0.0.0", true },
    { "64:ff9b::7f00:1", true },  /* NAT64 of 127.0.0.1 */
    { "64:ff9b::a00:1", true },   /* NAT64 of 10.0.0.1 */
    { "64:ff9b:1::1", true },     /* local-use NAT64 */
    { "2002:7f00:1::", true },    /* 6to4 of 127.0.0.1 */
    { "2002:c0a8:101::1", true }, /* 6to4 of 192.168.1.1 */
    { "2002:a00:1::1", true },    /* 6to4 of 10.0.0.1 */
    { "100::1", true },           /* discard-only */
    { "2001::1", true },          /* Teredo */
    { "2001:0:4136:e378:8000:63bf:3fff:fdd2", true },
    { "2001:2::1", true },  /* benchmarking */
    { "2001:10::1", true }, /* ORCHID */
    { "2001:20::1", true }, /* ORCHIDv2 */
    { "2001:db8::1", true },
    { "3fff::1", true },
    { "5f00::1", true },
    { "fc00::1", true },
    { "fd12:3456::1", true },
    { "fe80::1", true },
    { "febf::1", true },
    { "fec0::1", true },
    { "feff::1", true },
    { "ff02::1", true },
    { "ff0e::1", true },
    { "4000::1", true }, /* outside 2000::/3: reserved */
    { "::2:3:4:5", true },
    /* not addresses */
    { "", true },
    { "localhost", true },
    { "1.2.3", true },
    { "[::1]", true },
};

static void
test_special_purpose_addresses_are_private(void **state)
{
    int wrong = 0;

    (void)state;
    for (size_t i = 0; i < ANN_ARRAY_LEN(cases); i++) {
        if (fetch_address_is_private(cases[i].addr) != cases[i].is_private) {
            print_error("%s: expected %s\n", cases[i].addr,
                        cases[i].is_private ? "private" : "global");
            wrong++;
        }
    }
    assert_int_equal(wrong, 0);
}

static void
test_other_families_are_not_global(void **state)
{
    static const unsigned char any[16] = { 8, 8, 8, 8 };

    (void)state;
    assert_false(net_addr_is_global(AF_UNSPEC, any));
    assert_true(net_addr_is_global(AF_INET, any));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_special_purpose_addresses_are_private),
        cmocka_unit_test(test_other_families_are_not_global),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
