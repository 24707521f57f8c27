"""it.bind.legacy: v1 POST /3pid/bind (no access token) is never weaker than v2's "only your
own Matrix ID": off by default (403, nothing bound, even for `@ministre:...` on the routed
server); with legacy.homeservers, only a listed homeserver, calling from its networks
(X-Forwarded-For from http.trusted_proxies only), binds, and only Matrix IDs of its own;
the routing's bind restriction still applies on top."""
import re

import pytest
import requests

import harness
from harness import assert_matrix_error
from routing_env import V1, routing_config, write_mapping
from smtp_sink import SmtpSink


@pytest.fixture
def make_env(cluster, tmp_path):
    made = []

    def make(legacy="", http_extra=""):
        sink = SmtpSink()
        svc = harness.Service(cluster, smtp_port=sink.port, http_extra=http_extra,
                              config=routing_config(write_mapping(tmp_path)) + legacy)
        made.append((svc, sink))
        svc.start()
        return svc, sink

    yield make
    for svc, sink in made:
        try:
            assert svc.stop() == 0, svc.read_log()
        finally:
            sink.stop()


def validated_session(svc, sink, email, secret):
    """Validated through v1, as a homeserver's legacy flow does: no account needed."""
    r = requests.post(svc.url(V1 + "/validate/email/requestToken"),
                      json={"client_secret": secret, "email": email, "send_attempt": 1})
    assert r.status_code == 200, r.text
    sid = r.json()["sid"]

    def link_in(msg):
        m = re.search(r"https?://\S+submitToken\S+", msg.get_body(("plain",)).get_content())
        return m.group(0) if m and f"sid={sid}" in m.group(0) else None

    assert requests.get(link_in(sink.wait_for(link_in)[2])).status_code == 200
    return sid


def bind_v1(svc, sid, secret, mxid, headers=None):
    return requests.post(svc.url(V1 + "/3pid/bind"), headers=headers or {},
                         json={"sid": sid, "client_secret": secret, "mxid": mxid})


def bound(svc):
    return svc.cluster.psql("SELECT mxid FROM annuaire.associations", db=svc.db).split()


def test_off_by_default(make_env):
    svc, sink = make_env()
    sid = validated_session(svc, sink, "jean@interieur.gouv.fr", "sec1")
    for mxid in ("@ministre:agent.interieur.test", "@jean:agent.interieur.test"):
        r = bind_v1(svc, sid, "sec1", mxid)
        assert_matrix_error(r, 403, "M_FORBIDDEN")
        assert "disabled" in r.json()["error"]
    assert bound(svc) == []


def test_caller_not_listed_for_that_homeserver(make_env):
    svc, sink = make_env('legacy:\n  homeservers: {"agent.culture.test": ["127.0.0.1/32"]}\n')
    sid = validated_session(svc, sink, "jean@interieur.gouv.fr", "sec2")
    # Listed for Culture: may not bind a Matrix ID of Intérieur (nor of its twin).
    for mxid in ("@ministre:agent.interieur.test", "@ministre:internet.interieur.test"):
        assert_matrix_error(bind_v1(svc, sid, "sec2", mxid), 403, "M_FORBIDDEN")
    # Its own homeserver, but the address is routed to Intérieur: the routing refuses.
    assert_matrix_error(bind_v1(svc, sid, "sec2", "@jean:agent.culture.test"), 400,
                        "M_BINDING_NOT_PERMITTED")
    assert bound(svc) == []


def test_listed_caller_binds_its_own_users(make_env):
    svc, sink = make_env('legacy:\n  homeservers: {"agent.interieur.test": ["10.0.0.0/24"]}\n',
                         http_extra='  trusted_proxies: ["127.0.0.1/32"]\n')
    sid = validated_session(svc, sink, "jean@interieur.gouv.fr", "sec3")
    inside = {"X-Forwarded-For": "10.0.0.5"}
    # From outside its networks: refused, whatever the Matrix ID.
    assert_matrix_error(bind_v1(svc, sid, "sec3", "@jean:agent.interieur.test"), 403, "M_FORBIDDEN")
    assert_matrix_error(bind_v1(svc, sid, "sec3", "@jean:agent.interieur.test",
                                headers={"X-Forwarded-For": "192.0.2.7"}), 403, "M_FORBIDDEN")
    # From them: only its own users.
    assert_matrix_error(bind_v1(svc, sid, "sec3", "@jean:agent.culture.test", headers=inside), 403,
                        "M_FORBIDDEN")
    # Its server name exactly as written in Matrix IDs (v2 compares Matrix IDs exactly too).
    assert_matrix_error(bind_v1(svc, sid, "sec3", "@jean:AGENT.interieur.test", headers=inside),
                        403, "M_FORBIDDEN")
    assert bound(svc) == []
    r = bind_v1(svc, sid, "sec3", "@jean:agent.interieur.test", headers=inside)
    assert r.status_code == 200, r.text
    assert r.json()["mxid"] == "@jean:agent.interieur.test"
    assert bound(svc) == ["@jean:agent.interieur.test"]


def test_config_errors(cluster, tmp_path):
    for value, why in (('["10.0.0.0/8"]', "mapping"), ('{"hs.test": []}', "non-empty"),
                       ('{"hs.test": ["10.0.0.0/33"]}', "CIDR"), ('{"a b": ["10.0.0.1"]}', "homeserver name"),
                       # Everyone as a homeserver's network would reopen the v1 calls to all.
                       ('{"hs.test": ["0.0.0.0/0"]}', "at most a /8"),
                       ('{"hs.test": ["10.0.0.1", "::/0"]}', "at most a /8"),
                       ('{"hs.test": ["2001:db8::/31"]}', "at most a /8"),
                       ('{"HS.test": ["10.0.0.1"]}', "lower case")):
        svc = harness.Service(cluster, migrate=False, config=f"legacy:\n  homeservers: {value}\n")
        r = svc.run("check-config")
        assert r.returncode == 1 and "legacy.homeservers" in r.stderr and why in r.stderr, r.stderr
