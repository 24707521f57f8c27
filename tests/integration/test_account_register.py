"""it.account.register: POST /account/register exchanges an OpenID token with the user's
homeserver (a fake one here); GET /account and POST /account/logout with the token."""
import pytest
import requests

import harness
import ports
from fake_hs import FakeHomeserver
from harness import assert_matrix_error

V2 = "/_matrix/identity/v2"


@pytest.fixture
def hs():
    server = FakeHomeserver()
    yield server
    server.close()


def openid(token, server):
    return {"access_token": token, "token_type": "Bearer", "matrix_server_name": server,
            "expires_in": 3600}


def account_service(cluster, extra=""):
    return harness.Service(cluster, config=extra)


def test_register_account_logout(cluster, hs):
    hs.tokens["oid-alice"] = "@alice:hs.test"
    config = f"account:\n  homeservers: {{\"hs.test\": \"{hs.base_url}\"}}\n"
    with harness.Service(cluster, config=config) as svc:
        r = requests.post(svc.url(V2 + "/account/register"), json=openid("oid-alice", "hs.test"))
        assert r.status_code == 200, r.text
        token = r.json()["token"]
        assert r.json()["access_token"] == token and len(token) >= 40
        assert hs.requests[-1][2]["access_token"] == ["oid-alice"]

        auth = {"Authorization": f"Bearer {token}"}
        assert requests.get(svc.url(V2 + "/account"), headers=auth).json() == {"user_id": "@alice:hs.test"}
        # The query parameter still works (homeservers send it on /hash_details).
        r = requests.get(svc.url(V2 + "/account"), params={"access_token": token})
        assert r.json() == {"user_id": "@alice:hs.test"}

        assert_matrix_error(requests.get(svc.url(V2 + "/account")), 401, "M_UNAUTHORIZED")
        assert_matrix_error(requests.get(svc.url(V2 + "/account"), headers={"Authorization": "Bearer nope"}),
                            401, "M_UNAUTHORIZED")
        assert_matrix_error(requests.get(svc.url(V2 + "/account"), headers={"Authorization": "Basic eDp5"}),
                            401, "M_UNAUTHORIZED")

        # A second registration gives a second, independent token.
        token2 = requests.post(svc.url(V2 + "/account/register"), json=openid("oid-alice", "hs.test")).json()["token"]
        assert token2 != token

        r = requests.post(svc.url(V2 + "/account/logout"), headers=auth)  # no body at all
        assert r.status_code == 200 and r.json() == {}
        assert_matrix_error(requests.get(svc.url(V2 + "/account"), headers=auth), 401, "M_UNAUTHORIZED")
        assert_matrix_error(requests.post(svc.url(V2 + "/account/logout"), headers=auth), 401, "M_UNAUTHORIZED")
        r = requests.get(svc.url(V2 + "/account"), headers={"Authorization": f"Bearer {token2}"})
        assert r.status_code == 200
        # The token itself is never stored, only its hash.
        rows = cluster.psql("SELECT token_hash FROM annuaire.accounts", db=svc.db)
        assert token2 not in rows and len(rows.split()) == 1
        assert token not in svc.read_log() and token2 not in svc.read_log()
        assert "oid-alice" not in svc.read_log()


def test_register_refusals(cluster, hs):
    hs.tokens["oid-bob"] = "@bob:elsewhere.test"
    closed = ports.reserve()
    config = ("account:\n"
              f"  homeservers: {{\"hs.test\": \"{hs.base_url}\", \"down.test\": \"http://127.0.0.1:{closed}\"}}\n"
              "  allowed_homeservers: [\"hs.test\", \"down.test\"]\n")
    with harness.Service(cluster, config=config) as svc:
        url = svc.url(V2 + "/account/register")
        # The homeserver does not know the token.
        assert_matrix_error(requests.post(url, json=openid("unknown", "hs.test")), 401, "M_UNAUTHORIZED")
        # It vouches for a user of another server.
        assert_matrix_error(requests.post(url, json=openid("oid-bob", "hs.test")), 401, "M_UNAUTHORIZED")
        # Not on the allow-list.
        assert_matrix_error(requests.post(url, json=openid("x", "other.test")), 403, "M_FORBIDDEN")
        # Unreachable.
        assert_matrix_error(requests.post(url, json=openid("x", "down.test")), 500, "M_UNKNOWN")
        # Bad input.
        for bad in ("", "bad name", "a:99999", "a:", "[::1", "h\u00e9.test", "a" * 300):
            body = openid("x", bad)
            r = requests.post(url, json=body)
            assert r.status_code == 400, (bad, r.text)
            assert r.json()["errcode"] in ("M_INVALID_PARAM",), (bad, r.text)
        assert_matrix_error(requests.post(url, json={**openid("x", "hs.test"), "token_type": "Mac"}),
                            400, "M_INVALID_PARAM")
        assert_matrix_error(requests.post(url, json={"access_token": "x"}), 400, "M_MISSING_PARAMS")
        assert_matrix_error(requests.post(url, data="nope"), 400, "M_NOT_JSON")


def test_register_without_token_type_is_bearer(cluster, hs):
    """Older clients send only access_token and matrix_server_name: Bearer is implied;
    an empty or other token_type is still refused, and so is a missing access_token."""
    hs.tokens["oid-dave"] = "@dave:hs.test"
    config = f"account:\n  homeservers: {{\"hs.test\": \"{hs.base_url}\"}}\n"
    with harness.Service(cluster, config=config) as svc:
        url = svc.url(V2 + "/account/register")
        r = requests.post(url, json={"access_token": "oid-dave", "matrix_server_name": "hs.test"})
        assert r.status_code == 200, r.text
        auth = {"Authorization": f"Bearer {r.json()['token']}"}
        assert requests.get(svc.url(V2 + "/account"), headers=auth).json() == {"user_id": "@dave:hs.test"}
        calls = len(hs.requests)
        for bad in ("", "bearer", "Mac", "Bearer "):
            r = requests.post(url, json={"access_token": "oid-dave", "token_type": bad,
                                         "matrix_server_name": "hs.test"})
            assert r.status_code == 400, (bad, r.text)
        assert_matrix_error(requests.post(url, json={"access_token": "oid-dave", "token_type": 1,
                                                     "matrix_server_name": "hs.test"}),
                            400, "M_INVALID_PARAM")
        assert_matrix_error(requests.post(url, json={"matrix_server_name": "hs.test"}), 400,
                            "M_MISSING_PARAMS")
        assert len(hs.requests) == calls  # no refused request reached the homeserver


def test_private_addresses_refused_unless_allowed(cluster):
    tls_hs = FakeHomeserver(tls=True)
    tls_hs.tokens["oid-carol"] = f"@carol:127.0.0.1:{tls_hs.port}"
    name = f"127.0.0.1:{tls_hs.port}"
    try:
        # Discovered (not mapped) homeserver on loopback: refused by default.
        with harness.Service(cluster) as svc:
            r = requests.post(svc.url(V2 + "/account/register"), json=openid("oid-carol", name))
            assert_matrix_error(r, 403, "M_FORBIDDEN")
            assert tls_hs.requests == []
        # Allowed, over TLS with verification off (a test homeserver's own certificate).
        config = "account:\n  allow_private_addresses: true\n  tls_verify: false\n"
        with harness.Service(cluster, config=config) as svc:
            r = requests.post(svc.url(V2 + "/account/register"), json=openid("oid-carol", name))
            assert r.status_code == 200, r.text
        # Verification on: the self-signed certificate is refused.
        config = "account:\n  allow_private_addresses: true\n"
        with harness.Service(cluster, config=config) as svc:
            r = requests.post(svc.url(V2 + "/account/register"), json=openid("oid-carol", name))
            assert_matrix_error(r, 500, "M_UNKNOWN")
    finally:
        tls_hs.close()
