"""it.search.signed: POST /_matrix/identity/api/v1/user_directory/search, the identity
server's user directory that Tchap's homeservers defer to. Only a request X-Matrix signed
by a homeserver of search.delegating_homeservers is answered (an empty list refuses all,
as the reference does); unsigned, badly signed or from a server not listed: 403
M_FORBIDDEN, and no keys fetched from a server not listed. The answer: the annuaire's
agents that have a Matrix ID, {results, limited}, limit 10 by default and 100 at most
(none for a listed homeserver of an externals' platform); no search_term: 400
M_MISSING_PARAMS. Per-homeserver quota: 429 M_LIMIT_EXCEEDED."""
import json

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import harness
from fake_hs import FakeHomeserver
from harness import assert_matrix_error
from userdir_env import AGRI, EXT, config, fill, mxid
from smtp_sink import SmtpSink

PATH = "/_matrix/identity/api/v1/user_directory/search"
OTHER = "other.test"  # a homeserver that signs well but is not listed
FOUND = {mxid("anne"): "Anne Lefèvre", mxid("marie"): "Marie Lefèvre",
         mxid("paul"): "Paul Lefèvre"}


def signed(svc, hs, body, origin=None, tamper=None, dest="is.test"):
    origin = origin or hs.server_name
    req = {"method": "POST", "uri": PATH, "origin": origin, "destination_is": dest,
           "content": body}
    hs.sign(req)
    sig = req["signatures"][hs.server_name][hs.key_id]
    header = f'X-Matrix origin={origin},key="{hs.key_id}",sig="{sig}",destination="{dest}"'
    data = json.dumps(tamper if tamper is not None else body)
    return requests.post(svc.url(PATH), data=data, timeout=30,
                         headers={"Authorization": header, "Content-Type": "application/json"})


def homeservers(*pairs):
    return "account:\n  homeservers: {" + ", ".join(f'"{n}": "{h.base_url}"' for n, h in pairs) + "}\n"


@pytest.fixture(scope="module")
def world(cluster, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("search-signed")
    hs, other, ext = FakeHomeserver(), FakeHomeserver(), FakeHomeserver()
    hs.server_name, other.server_name, ext.server_name = AGRI, OTHER, EXT
    sink = SmtpSink()
    conf = config(tmp, hs, f"  delegating_homeservers: [\"{AGRI}\", \"{EXT}\"]\n")
    conf = conf.replace(f'"{EXT}": "{hs.base_url}"', f'"{EXT}": "{ext.base_url}", '
                        f'"{OTHER}": "{other.base_url}"', 1)
    svc = harness.Service(cluster, smtp_port=sink.port, config=conf)
    try:
        svc.start()
        fill(svc, hs, sink)
        svc.ext = ext
        yield svc, hs, other
        assert svc.stop() == 0
    finally:
        sink.stop()
        for h in (hs, other, ext):
            h.close()


def ok(r):
    assert r.status_code == 200, r.text
    return r.json()


def test_refused(world):
    svc, hs, other = world
    body = {"search_term": "lefevre"}
    assert_matrix_error(requests.post(svc.url(PATH), json=body, timeout=30), 403, "M_FORBIDDEN")
    assert_matrix_error(requests.post(svc.url(PATH), json=body, timeout=30,
                                      headers={"Authorization": "X-Matrix nonsense"}), 403,
                        "M_FORBIDDEN")
    assert_matrix_error(requests.post(svc.url(PATH), json=body, timeout=30,
                                      headers={"Authorization": "Bearer abc"}), 403, "M_FORBIDDEN")
    # Signed by a key the homeserver does not publish, under its key id (its keys are
    # fetched by a first good request, and kept).
    assert signed(svc, hs, body).status_code == 200
    real = hs.signing_key
    hs.signing_key = Ed25519PrivateKey.generate()
    r = signed(svc, hs, body)
    hs.signing_key = real
    assert_matrix_error(r, 403, "M_FORBIDDEN")
    # A body other than the one signed; a signature for another identity server.
    assert_matrix_error(signed(svc, hs, body, tamper={"search_term": "martin"}), 403, "M_FORBIDDEN")
    assert_matrix_error(signed(svc, hs, body, dest="elsewhere.test"), 403, "M_FORBIDDEN")
    # Well signed, by a server that is not listed: refused, its keys never fetched.
    assert_matrix_error(signed(svc, other, body), 403, "M_FORBIDDEN")
    assert other.requests == []
    # Claiming to be the listed server, signed by the other one's key.
    assert_matrix_error(signed(svc, other, body, origin=AGRI), 403, "M_FORBIDDEN")
    # Signature checked before the body: an unsigned bad body is 403 too.
    assert_matrix_error(requests.post(svc.url(PATH), json={}, timeout=30), 403, "M_FORBIDDEN")


def test_results(world):
    svc, hs, _ = world
    body = ok(signed(svc, hs, {"search_term": "lefevre"}))
    assert body["limited"] is False
    # Bound agents only (not jeanne, who has no Matrix ID, nor the hidden one).
    assert {e["user_id"]: e["display_name"] for e in body["results"]} == FOUND, body
    assert all(set(e) == {"user_id", "display_name"} for e in body["results"])
    assert len(body["results"]) == 3
    two = ok(signed(svc, hs, {"search_term": "lefevre", "limit": 2}))
    assert two["limited"] is True
    assert two["results"] == body["results"][:2]  # the same order
    assert ok(signed(svc, hs, {"search_term": "lefevre", "limit": 3})) == body
    assert ok(signed(svc, hs, {"search_term": "lefevre", "limit": 1000})) == body  # capped at 100
    assert ok(signed(svc, hs, {"search_term": "zoe"}))["results"] == [
        {"user_id": mxid("zoe"), "display_name": "Zoé Martin"}]
    assert ok(signed(svc, hs, {"search_term": "nobody"})) == {"results": [], "limited": False}
    # Extra keys are ignored, as the reference does.
    assert ok(signed(svc, hs, {"search_term": "lefevre", "x": 1})) == body
    # A listed homeserver of the externals' platform: its users do not browse the agents.
    assert ok(signed(svc, svc.ext, {"search_term": "lefevre"})) == {"results": [],
                                                                    "limited": False}


def test_bad_bodies(world):
    svc, hs, _ = world
    assert_matrix_error(signed(svc, hs, {"limit": 3}), 400, "M_MISSING_PARAMS")
    assert_matrix_error(signed(svc, hs, {"search_term": "lefevre", "limit": 0}), 400,
                        "M_INVALID_PARAM")
    assert_matrix_error(signed(svc, hs, {"search_term": ["x"]}), 400, "M_INVALID_PARAM")
    assert_matrix_error(signed(svc, hs, {"search_term": "x" * 300}), 400, "M_INVALID_PARAM")
    assert_matrix_error(signed(svc, hs, {"search_term": "é-"}), 400, "M_INVALID_PARAM")  # min_term 2


def test_empty_list_refuses_all(cluster, tmp_path):
    hs = FakeHomeserver()
    hs.server_name = AGRI
    try:
        with harness.Service(cluster, config=config(tmp_path, hs)) as svc:
            assert_matrix_error(signed(svc, hs, {"search_term": "lefevre"}), 403, "M_FORBIDDEN")
            assert hs.requests == []
    finally:
        hs.close()


def test_quota_per_homeserver(cluster, tmp_path):
    hs, second = FakeHomeserver(), FakeHomeserver()
    hs.server_name, second.server_name = AGRI, "second.test"
    conf = config(tmp_path, hs, f"  delegating_homeservers: [\"{AGRI}\", \"second.test\"]\n"
                  "  per_homeserver_per_hour: 2\n  per_ip_per_hour: 1\n")
    conf = conf.replace("account:\n  homeservers: {",
                        f"account:\n  homeservers: {{\"second.test\": \"{second.base_url}\", ", 1)
    try:
        with harness.Service(cluster, config=conf) as svc:
            assert svc.run("sync").returncode == 0
            for _ in range(2):
                assert ok(signed(svc, hs, {"search_term": "lefevre"})) == {"results": [],
                                                                           "limited": False}
            r = signed(svc, hs, {"search_term": "lefevre"})
            assert_matrix_error(r, 429, "M_LIMIT_EXCEEDED")
            assert r.json()["retry_after_ms"] > 0
            # Another homeserver has its own, from the same address: the per-IP number
            # (1 here) does not count homeservers, whose addresses carry all their users.
            assert ok(signed(svc, second, {"search_term": "lefevre"}))["results"] == []
            # A refused signature spends nothing of the listed server's quota... nor is answered.
            assert_matrix_error(signed(svc, second, {"search_term": "x"}, origin=AGRI), 403,
                                "M_FORBIDDEN")
    finally:
        hs.close()
        second.close()
