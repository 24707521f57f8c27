"""it.search.client: POST /_matrix/client/{v3,r0}/user_directory/search, as a reverse
proxy in front of a homeserver sends it. The Host header picks the homeserver
(search.client_hosts; unknown: 404 M_UNRECOGNIZED); the caller's token is checked with
its whoami (none: 401 M_MISSING_TOKEN, refused: 401 M_UNKNOWN_TOKEN, homeserver down:
502); the same search goes to the homeserver, whose results come first, then the
annuaire's agents that have a Matrix ID (not hidden ones, not twice), up to limit. The
homeserver's search failing (500, too slow, no answer): the annuaire's alone, limited,
flagged "fr.annuaire.homeserver_failed". A caller whose server is not an agents' homeserver
of the routing map (an external, a server with a port the map does not write, an unknown
server) gets the homeserver's answer alone. Per-user quota: 429 M_LIMIT_EXCEEDED."""
import pytest
import requests

import harness
import ports
from fake_hs import FakeHomeserver
from harness import assert_matrix_error
from userdir_env import AGRI, EXT, config, fill, mxid
from smtp_sink import SmtpSink

V3 = "/_matrix/client/v3/user_directory/search"
R0 = "/_matrix/client/r0/user_directory/search"
HOST = "matrix.agri.test"
FLAG = "fr.annuaire.homeserver_failed"
# What the homeserver itself finds: anne (also in the annuaire) and a user of its own.
HS_RESULTS = [{"user_id": mxid("anne"), "display_name": "Anne L.", "avatar_url": "mxc://agri/anne"},
              {"user_id": "@local:agent.agri.test", "display_name": "Local Lefevre"}]
# What the annuaire adds for "lefevre": bound agents not hidden, not anne (listed already).
ANNUAIRE = {mxid("marie"): "Marie Lefèvre", mxid("paul"): "Paul Lefèvre"}


@pytest.fixture(scope="module")
def world(cluster, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("search-client")
    hs = FakeHomeserver()
    hs.server_name = AGRI
    sink = SmtpSink()
    dead = ports.reserve()  # where nothing listens
    search = (f"  client_hosts: {{\"{HOST}\": \"{hs.base_url}/\", "
              f"\"down.agri.test\": \"http://127.0.0.1:{dead}\"}}\n")
    svc = harness.Service(cluster, smtp_port=sink.port,
                          config=config(tmp, hs, search, account="  request_timeout: 2\n"))
    try:
        svc.start()
        fill(svc, hs, sink)
        hs.client_tokens["tok-marie"] = mxid("marie")
        hs.client_tokens["tok-bob"] = f"@bob:{EXT}"  # on the externals' platform
        hs.client_tokens["tok-port"] = f"@y:{EXT}:8448"  # a server name the map does not write
        hs.client_tokens["tok-unknown"] = "@z:nowhere.test"  # a server no rule names
        yield svc, hs
        assert svc.stop() == 0
    finally:
        sink.stop()
        hs.close()


@pytest.fixture
def hs_ok(world):
    """The homeserver's search answers HS_RESULTS."""
    svc, hs = world
    hs.directory, hs.directory_limited, hs.directory_mode = HS_RESULTS, False, "ok"
    hs.whoami_status = None
    hs.client_calls.clear()
    return svc, hs


def search(svc, body, token="tok-marie", host=HOST, path=V3, headers=None, params=None):
    h = {"Host": host, **(headers or {})}
    if token is not None:
        h["Authorization"] = "Bearer " + token
    return requests.post(svc.url(path), json=body, headers=h, params=params, timeout=30)


def ok(r):
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/json"
    return r.json()


def annuaire_part(results):
    return {e["user_id"]: e for e in results}


def test_unknown_host(hs_ok):
    svc, hs = hs_ok
    assert_matrix_error(search(svc, {"search_term": "lefevre"}, host="matrix.other.test"), 404,
                        "M_UNRECOGNIZED")
    r = requests.post(svc.url(V3), json={"search_term": "lefevre"},
                      headers={"Authorization": "Bearer tok-marie"}, timeout=30)
    assert_matrix_error(r, 404, "M_UNRECOGNIZED")  # Host 127.0.0.1:port: not mapped
    assert hs.client_calls == []
    # The Host a proxy sends with a port, in another case, is the same homeserver.
    assert ok(search(svc, {"search_term": "lefevre"}, host="Matrix.Agri.Test:443"))["results"]


def test_tokens(hs_ok):
    svc, hs = hs_ok
    assert_matrix_error(search(svc, {"search_term": "lefevre"}, token=None), 401, "M_MISSING_TOKEN")
    assert_matrix_error(search(svc, {"search_term": "lefevre"}, token=""), 401, "M_MISSING_TOKEN")
    assert hs.client_calls == []
    assert_matrix_error(search(svc, {"search_term": "lefevre"}, token="stolen"), 401,
                        "M_UNKNOWN_TOKEN")
    assert [c[1] for c in hs.client_calls] == ["/_matrix/client/v3/account/whoami"]
    hs.whoami_status = 403
    assert_matrix_error(search(svc, {"search_term": "lefevre"}), 401, "M_UNKNOWN_TOKEN")
    hs.whoami_status = 500
    assert_matrix_error(search(svc, {"search_term": "lefevre"}), 502, "M_UNKNOWN")
    hs.whoami_status = None
    # A homeserver that cannot be reached: 502, nothing searched.
    assert_matrix_error(search(svc, {"search_term": "lefevre"}, host="down.agri.test"), 502,
                        "M_UNKNOWN")
    assert "user_directory" not in str(hs.client_calls)
    # The token as the access_token query parameter, as the spec allows.
    body = ok(search(svc, {"search_term": "lefevre"}, token=None,
                     params={"access_token": "tok-marie"}))
    assert [e["user_id"] for e in body["results"][:2]] == [e["user_id"] for e in HS_RESULTS]
    assert "tok-marie" not in svc.read_log() and "stolen" not in svc.read_log()


def test_bad_bodies(hs_ok):
    svc, _ = hs_ok
    assert_matrix_error(search(svc, {"limit": 3}), 400, "M_MISSING_PARAMS")
    assert_matrix_error(search(svc, {"search_term": 12}), 400, "M_INVALID_PARAM")
    assert_matrix_error(search(svc, {"search_term": "lefevre", "limit": 0}), 400, "M_INVALID_PARAM")
    assert_matrix_error(search(svc, {"search_term": "lefevre", "limit": "3"}), 400, "M_INVALID_PARAM")


def test_merge(hs_ok):
    svc, hs = hs_ok
    body = ok(search(svc, {"search_term": "lefevre"},
                     headers={"Cookie": "session=1", "X-Secret": "s", "Connection": "keep-alive, X-Secret",
                              "Accept-Language": "fr"}))
    results = body["results"]
    assert body["limited"] is False
    assert FLAG not in body
    # The homeserver's own first, as it gave them; then the annuaire's, anne not twice.
    assert results[:2] == HS_RESULTS, results
    added = annuaire_part(results[2:])
    assert {k: v["display_name"] for k, v in added.items()} == ANNUAIRE, results
    assert all(set(e) == {"user_id", "display_name"} for e in results[2:]), results
    assert len(results) == 4
    # What went to the homeserver: the same body and token, to its URL; nothing else of ours.
    (m1, p1, h1, _), (m2, p2, h2, b2) = hs.client_calls
    assert (m1, p1, m2, p2) == ("GET", "/_matrix/client/v3/account/whoami", "POST", V3)
    assert b2 == {"search_term": "lefevre"}
    for h in (h1, h2):
        assert h["Authorization"] == "Bearer tok-marie"
        assert h["Host"] == f"127.0.0.1:{hs.port}"
        assert "Cookie" not in h and "X-Secret" not in h
    assert h2["Accept-Language"] == "fr"


def test_limit(hs_ok):
    svc, hs = hs_ok
    body = ok(search(svc, {"search_term": "lefevre", "limit": 3}))
    assert body["results"][:2] == HS_RESULTS
    assert len(body["results"]) == 3 and body["results"][2]["user_id"] in ANNUAIRE
    assert body["limited"] is True
    body = ok(search(svc, {"search_term": "lefevre", "limit": 2}))
    assert body == {"results": HS_RESULTS, "limited": True}  # the annuaire had more
    assert hs.client_calls[-1][3] == {"search_term": "lefevre", "limit": 2}
    body = ok(search(svc, {"search_term": "lefevre", "limit": 1}))
    assert body == {"results": HS_RESULTS[:1], "limited": True}
    # A term too short for the annuaire (search.min_term): the homeserver's answer alone.
    assert ok(search(svc, {"search_term": "l"})) == {"results": HS_RESULTS, "limited": False}
    # The homeserver says limited: so is the answer.
    hs.directory_limited = True
    body = ok(search(svc, {"search_term": "lefevre"}))
    assert body["limited"] is True and len(body["results"]) == 4
    # Nobody else matches: the homeserver's alone (no hidden agent, no unbound one).
    hs.directory, hs.directory_limited = [], False
    assert ok(search(svc, {"search_term": "zzzz"})) == {"results": [], "limited": False}
    body = ok(search(svc, {"search_term": "lefevre"}))
    assert {e["user_id"] for e in body["results"]} == set(ANNUAIRE) | {mxid("anne")}
    assert annuaire_part(body["results"])[mxid("anne")]["display_name"] == "Anne Lefèvre"


@pytest.mark.parametrize("mode", ["error", "slow", "drop"])
def test_homeserver_search_down(hs_ok, mode):
    svc, hs = hs_ok
    hs.directory_mode = mode
    hs.directory_delay = 6  # request_timeout is 2
    body = ok(search(svc, {"search_term": "lefevre"}))
    assert body[FLAG] is True
    assert body["limited"] is True
    assert {e["user_id"]: e["display_name"] for e in body["results"]} == {
        **ANNUAIRE, mxid("anne"): "Anne Lefèvre"}, body
    assert set(body) == {"results", "limited", FLAG}


def test_external_caller(hs_ok):
    svc, hs = hs_ok
    body = ok(search(svc, {"search_term": "lefevre"}, token="tok-bob"))
    assert body == {"results": HS_RESULTS, "limited": False}
    hs.directory = []
    assert ok(search(svc, {"search_term": "lefevre"}, token="tok-bob")) == {"results": [],
                                                                            "limited": False}
    # Its homeserver down: nothing of the annuaire instead.
    hs.directory_mode = "error"
    assert_matrix_error(search(svc, {"search_term": "lefevre"}, token="tok-bob"), 502, "M_UNKNOWN")


@pytest.mark.parametrize("token", ["tok-port", "tok-unknown"])
def test_caller_not_of_an_agents_homeserver(hs_ok, token):
    """A server the routing map does not name (an externals' one with a port, an unknown
    one) is not an agents' homeserver: the homeserver's answer alone."""
    svc, hs = hs_ok
    assert ok(search(svc, {"search_term": "lefevre"}, token=token)) == {"results": HS_RESULTS,
                                                                          "limited": False}
    hs.directory_mode = "error"
    assert_matrix_error(search(svc, {"search_term": "lefevre"}, token=token), 502, "M_UNKNOWN")


def test_r0(hs_ok):
    svc, hs = hs_ok
    body = ok(search(svc, {"search_term": "lefevre"}, path=R0))
    assert body["results"][:2] == HS_RESULTS
    assert {k: v["display_name"] for k, v in annuaire_part(body["results"][2:]).items()} == ANNUAIRE
    assert [c[1] for c in hs.client_calls] == ["/_matrix/client/v3/account/whoami", R0]


def test_quota(cluster, tmp_path):
    hs = FakeHomeserver()
    hs.server_name = AGRI
    sink = SmtpSink()
    search_conf = f"  client_hosts: {{\"{HOST}\": \"{hs.base_url}\"}}\n  per_token_per_hour: 2\n"
    try:
        with harness.Service(cluster, smtp_port=sink.port,
                             config=config(tmp_path, hs, search_conf)) as svc:
            assert svc.run("sync").returncode == 0
            hs.client_tokens.update({"tok-a": mxid("marie"), "tok-a2": mxid("marie"),
                                     "tok-b": mxid("paul")})
            assert ok(search(svc, {"search_term": "lefevre"}, token="tok-a"))["results"] == []
            assert ok(search(svc, {"search_term": "lefevre"}, token="tok-a2"))["results"] == []
            # The same user, whatever token: its quota is spent.
            r = search(svc, {"search_term": "lefevre"}, token="tok-a")
            assert_matrix_error(r, 429, "M_LIMIT_EXCEEDED")
            assert r.json()["retry_after_ms"] > 0
            searches = [c for c in hs.client_calls if c[0] == "POST"]
            assert len(searches) == 2  # the refused one was not forwarded
            assert ok(search(svc, {"search_term": "lefevre"}, token="tok-b"))["results"] == []
    finally:
        sink.stop()
        hs.close()


def test_ip_quota_before_whoami(cluster, tmp_path):
    """Past the client IP's quota, a made-up token costs no call to the homeserver."""
    hs = FakeHomeserver()
    hs.server_name = AGRI
    sink = SmtpSink()
    search_conf = f"  client_hosts: {{\"{HOST}\": \"{hs.base_url}\"}}\n  per_ip_per_hour: 2\n"
    try:
        with harness.Service(cluster, smtp_port=sink.port,
                             config=config(tmp_path, hs, search_conf)) as svc:
            for n in range(2):
                assert_matrix_error(search(svc, {"search_term": "lefevre"}, token=f"bad-{n}"),
                                    401, "M_UNKNOWN_TOKEN")
            r = search(svc, {"search_term": "lefevre"}, token="bad-2")
            assert_matrix_error(r, 429, "M_LIMIT_EXCEEDED")
            assert r.json()["retry_after_ms"] > 0
            whoamis = [c for c in hs.client_calls if c[1].endswith("/account/whoami")]
            assert len(whoamis) == 2
    finally:
        sink.stop()
        hs.close()
