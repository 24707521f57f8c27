"""it.http.utf8: a request whose path or query string (a name or a value) decodes to bytes
that are not UTF-8, or to a NUL, is refused 400 M_INVALID_PARAM before any handler runs,
on every listener (identity API, admin API), and nothing is logged as an error; valid
non-ASCII text (é, an emoji) goes through as before; the next request on the same
connection is served as usual."""
import http.client

import pytest
import requests

import harness
from harness import assert_matrix_error
from test_admin_listener import add_token, auth

AUDIT = "/_annuaire/admin/v1/audit"
RUNS = "/_annuaire/admin/v1/sync/runs"
INV = "/_annuaire/admin/v1/invitations"
ISVALID = "/_matrix/identity/v2/pubkey/isvalid"
SUBMIT = "/_matrix/identity/v2/validate/email/submitToken"


@pytest.fixture(scope="module")
def svc(cluster):
    with harness.Service(cluster, admin=True) as s:
        s.token = add_token(s, "root", ["all"])
        yield s


def raw(port, method, target, headers=None, body=None):
    """The request line exactly as given (requests would quote it again)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, target, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def assert_refused(status, body):
    assert status == 400, body
    assert b'"M_INVALID_PARAM"' in body, body


BAD_IDENTITY = [
    ISVALID + "?public_key=%ff",
    ISVALID + "?public_key=%c3%28",
    ISVALID + "?public_key=a%00b",
    ISVALID + "?%ff=1",
    "/_matrix/identity/v2/pubkey/%ff",
    "/_matrix/identity/v2/pubkey/ed25519%00",
    "/_matrix/identity/v2/hash_details?access_token=%80",
    SUBMIT + "?sid=1&client_secret=%fe&token=1",
]


@pytest.mark.parametrize("target", BAD_IDENTITY)
def test_identity_api_refuses(svc, target):
    assert_refused(*raw(svc.port, "GET", target))


def test_refused_before_the_body_is_read(svc):
    status, body = raw(svc.port, "POST", SUBMIT + "?x=%ff", {"Content-Type": "application/json"},
                       b'{"sid": "1", "client_secret": "abc", "token": "1"}')
    assert_refused(status, body)


BAD_ADMIN = [
    AUDIT + "?action=%ff",
    AUDIT + "?actor=%c3%28",
    AUDIT + "?object_kind=%80",
    AUDIT + "?object_id=%ff%fe",
    AUDIT + "?since=%00",
    RUNS + "?source=%ff",
    RUNS + "?source=%00",
    INV + "?address=%ff",
    INV + "/%ff",
    INV + "/1%00",
]


@pytest.mark.parametrize("target", BAD_ADMIN)
def test_admin_api_refuses(svc, target):
    assert_refused(*raw(svc.admin_port, "GET", target, auth(svc.token)))


def test_valid_non_ascii_goes_through(svc):
    for value in ("%C3%A9", "%F0%9F%98%80", "caf%C3%A9"):
        for name in ("action", "actor", "object_kind", "object_id"):
            status, body = raw(svc.admin_port, "GET", f"{AUDIT}?{name}={value}", auth(svc.token))
            assert (status, body) == (200, b'{"entries":[]}'), (name, value, body)
    r = requests.get(svc.url(ISVALID), params={"public_key": "é😀"}, timeout=10)
    assert r.status_code == 200 and r.json() == {"valid": False}, r.text
    assert_matrix_error(requests.get(svc.url("/_matrix/identity/v2/pubkey/%C3%A9%F0%9F%98%80"),
                                     timeout=10), 404, "M_NOT_FOUND")


def test_next_request_on_the_connection(svc):
    with requests.Session() as s:
        for _ in range(2):
            r = s.get(svc.admin_url(AUDIT) + "?action=%ff", headers=auth(svc.token), timeout=10)
            assert_matrix_error(r, 400, "M_INVALID_PARAM")
            r = s.get(svc.admin_url(AUDIT) + "?action=x", headers=auth(svc.token), timeout=10)
            assert r.status_code == 200 and r.json() == {"entries": []}, r.text


def test_nothing_logged_as_an_error(svc):
    raw(svc.admin_port, "GET", AUDIT + "?action=%ff", auth(svc.token))
    raw(svc.port, "GET", ISVALID + "?public_key=%ff")
    assert " ERROR " not in svc.read_log() and "Database unavailable" not in svc.read_log()
