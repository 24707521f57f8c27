"""it.ratelimit.limits: requestToken and lookup answer 429 M_LIMIT_EXCEEDED with
retry_after_ms past their limits (per address, per user, per client IP); the client IP
comes from X-Forwarded-For only when the peer is a trusted proxy; an IPv6 client counts
for its /64 (it could take a new address in it for each request), an IPv4-mapped address
as the IPv4 one; limits can be lifted."""
import requests

import harness
from fake_hs import FakeHomeserver
from harness import assert_matrix_error

V1 = "/_matrix/identity/api/v1"
V2 = "/_matrix/identity/v2"

LIMITS = """ratelimit:
  request_token_address_burst: 2
  request_token_user_burst: 3
  request_token_ip_burst: 4
  lookup_user_burst: 3
  lookup_ip_burst: 5
  lookup_ip_interval_ms: 600000
  lookup_user_interval_ms: 600000
"""


def request_token(svc, auth, email, attempt=1, headers=None):
    return requests.post(svc.url(V2 + "/validate/email/requestToken"), headers={**auth, **(headers or {})},
                         json={"client_secret": "s", "email": email, "send_attempt": attempt})


def test_request_token_limits(cluster):
    hs = FakeHomeserver()
    with harness.Service(cluster, config=harness.homeserver_config(hs) + LIMITS) as svc:
        a = {"Authorization": "Bearer " + harness.register(svc, hs, "@a:hs.test")}
        b = {"Authorization": "Bearer " + harness.register(svc, hs, "@b:hs.test")}
        # Per address: the third request for the same address, even from another user.
        assert request_token(svc, a, "x@agri.gouv.fr", 1).status_code == 200
        assert request_token(svc, a, "x@agri.gouv.fr", 2).status_code == 200
        r = request_token(svc, b, "x@agri.gouv.fr", 3)
        assert_matrix_error(r, 429, "M_LIMIT_EXCEEDED")
        assert r.json()["retry_after_ms"] > 0
        # Per user: a's third distinct address.
        assert request_token(svc, a, "y@agri.gouv.fr").status_code == 200
        assert_matrix_error(request_token(svc, a, "z@agri.gouv.fr"), 429, "M_LIMIT_EXCEEDED")
        # Per client IP (all of the above came from 127.0.0.1): the budget of 4 is spent.
        assert_matrix_error(request_token(svc, b, "w@agri.gouv.fr"), 429, "M_LIMIT_EXCEEDED")
        # X-Forwarded-For from an untrusted peer changes nothing.
        assert_matrix_error(request_token(svc, b, "w@agri.gouv.fr", headers={"X-Forwarded-For": "203.0.113.9"}),
                            429, "M_LIMIT_EXCEEDED")
    hs.close()


def test_lookup_limits_and_trusted_proxy(cluster):
    hs = FakeHomeserver()
    svc = harness.Service(cluster, config=harness.homeserver_config(hs) + LIMITS,
                          http_extra="  trusted_proxies: [\"127.0.0.0/8\"]\n")
    with svc:
        auth = {"Authorization": "Bearer " + harness.register(svc, hs, "@c:hs.test")}
        pepper = requests.get(svc.url(V2 + "/hash_details"), headers=auth).json()["lookup_pepper"]
        body = {"algorithm": "sha256", "pepper": pepper, "addresses": []}

        def lookup(ip, token=auth):
            return requests.post(svc.url(V2 + "/lookup"), headers={**token, "X-Forwarded-For": ip}, json=body)

        # Behind the trusted proxy each client has its own IP budget...
        for ip in ("198.51.100.1", "198.51.100.2", "198.51.100.3"):
            assert lookup(ip).status_code == 200
        # ...but the user's budget (3) is shared.
        assert_matrix_error(lookup("198.51.100.4"), 429, "M_LIMIT_EXCEEDED")
        # v1 has no user: only the IP budget, per forwarded client.
        for _ in range(5):
            assert requests.post(svc.url(V1 + "/bulk_lookup"), headers={"X-Forwarded-For": "198.51.100.9"},
                                 json={"threepids": []}).status_code == 200
        r = requests.post(svc.url(V1 + "/bulk_lookup"), headers={"X-Forwarded-For": "198.51.100.9"},
                          json={"threepids": []})
        assert_matrix_error(r, 429, "M_LIMIT_EXCEEDED")
        assert requests.post(svc.url(V1 + "/bulk_lookup"), headers={"X-Forwarded-For": "198.51.100.10"},
                             json={"threepids": []}).status_code == 200
        # The access log names the forwarded client.
        assert svc.wait_log("198.51.100.10")
    hs.close()


def test_ipv6_clients_counted_per_64(cluster):
    config = "ratelimit:\n  unbind_ip_burst: 2\n  unbind_ip_interval_ms: 600000\n"
    with harness.Service(cluster, config=config,
                         http_extra="  trusted_proxies: [\"127.0.0.0/8\"]\n") as svc:
        body = {"mxid": "@x:hs.test", "threepid": {"medium": "email", "address": "x@agri.gouv.fr"}}

        def unbind(ip):
            return requests.post(svc.url(V2 + "/3pid/unbind"), json=body,
                                 headers={"X-Forwarded-For": ip})

        # Unsigned: refused, after the per-IP budget (2) is taken.
        for ip in ("2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff"):
            assert_matrix_error(unbind(ip), 403, "M_FORBIDDEN")
        assert_matrix_error(unbind("2001:db8:1:2::abcd"), 429, "M_LIMIT_EXCEEDED")
        assert_matrix_error(unbind("2001:db8:1:3::1"), 403, "M_FORBIDDEN")  # another /64
        assert_matrix_error(unbind("::ffff:192.0.2.1"), 403, "M_FORBIDDEN")
        assert_matrix_error(unbind("192.0.2.1"), 403, "M_FORBIDDEN")
        assert_matrix_error(unbind("::ffff:192.0.2.1"), 429, "M_LIMIT_EXCEEDED")
        assert_matrix_error(unbind("192.0.2.2"), 403, "M_FORBIDDEN")


def test_limits_can_be_lifted(cluster):
    hs = FakeHomeserver()
    with harness.Service(cluster, config=harness.homeserver_config(hs) + LIMITS + "  enabled: false\n") as svc:
        auth = {"Authorization": "Bearer " + harness.register(svc, hs, "@d:hs.test")}
        for i in range(8):
            assert request_token(svc, auth, "same@agri.gouv.fr", i + 1).status_code == 200
    hs.close()
