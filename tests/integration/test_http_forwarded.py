"""it.http.forwarded: the client address behind a trusted proxy. Every X-Forwarded-For
header counts, in the order received (a proxy may add its own header line after the
client's), and an entry that cannot be read (over 4 KiB of headers, a port, a name, a
range) leaves the client unknown, never the proxy's own address. Checked through the v1
store-invite gate, which trusts a homeserver's network (legacy.homeservers)."""
import http.client
import json

import pytest

import harness
from routing_env import V1, routing_config, write_mapping
from smtp_sink import SmtpSink

TRUST_LO = '  trusted_proxies: ["127.0.0.1/32"]\n'


@pytest.fixture
def make_env(cluster, tmp_path):
    made = []

    def make(networks):
        sink = SmtpSink()
        legacy = 'legacy:\n  homeservers: {"agent.interieur.test": ' + json.dumps(networks) + "}\n"
        svc = harness.Service(cluster, smtp_port=sink.port, http_extra=TRUST_LO,
                              config=routing_config(write_mapping(tmp_path)) + legacy)
        made.append((svc, sink))
        svc.start()
        return svc

    yield make
    for svc, sink in made:
        try:
            assert svc.stop() == 0, svc.read_log()
        finally:
            sink.stop()


def store_invite(svc, headers):
    """v1 store-invite with headers as a list of (name, value), repeated names kept."""
    body = json.dumps({"medium": "email", "address": "bob@gmail.com",
                       "room_id": "!room:agent.interieur.test",
                       "sender": "@alice:agent.interieur.test"}).encode()
    c = http.client.HTTPConnection("127.0.0.1", svc.port, timeout=10)
    try:
        c.putrequest("POST", V1 + "/store-invite")
        c.putheader("Content-Type", "application/json")
        c.putheader("Content-Length", str(len(body)))
        for name, value in headers:
            c.putheader(name, value)
        c.endheaders(body)
        r = c.getresponse()
        return r.status, json.loads(r.read() or b"{}")
    finally:
        c.close()


def stored(svc):
    return svc.cluster.psql("SELECT count(*) FROM annuaire.invites", db=svc.db).strip()


def test_every_header_counts(make_env):
    svc = make_env(["10.0.0.0/24"])
    outside = "192.0.2.7"
    for headers in ([("X-Forwarded-For", f"10.0.0.5, {outside}")],
                    # the client's own header, then the proxy's line with the real address
                    [("X-Forwarded-For", "10.0.0.5"), ("X-Forwarded-For", outside)],
                    [("X-Forwarded-For", "10.0.0.5"), ("x-forwarded-for", f"10.0.0.6,{outside}")]):
        status, body = store_invite(svc, headers)
        assert (status, body.get("errcode")) == (403, "M_FORBIDDEN"), headers
    assert stored(svc) == "0"
    # Control: the real client inside the network, in the last header.
    status, body = store_invite(svc, [("X-Forwarded-For", outside), ("X-Forwarded-For", "10.0.0.5")])
    assert status == 200, body
    assert stored(svc) == "1"


def test_unreadable_entry_is_no_proxy_address(make_env):
    # The proxy's own address is in the homeserver's network: a header it cannot read
    # must not make the request its own.
    svc = make_env(["127.0.0.0/8"])
    long_chain = ", ".join(["1.1.1.1"] * 600) + ", 192.0.2.7"
    for value in (long_chain, "192.0.2.7:51234", "unknown", "", "10.0.0.0/8", "[::1]",
                  "garbage, 127.0.0.1", "10.0.0.1, , 127.0.0.1"):
        status, body = store_invite(svc, [("X-Forwarded-For", value)])
        assert (status, body.get("errcode")) == (403, "M_FORBIDDEN"), value[:80]
    assert stored(svc) == "0"
    # No header at all: the proxy's host calls for itself (a homeserver beside it).
    status, body = store_invite(svc, [])
    assert status == 200, body
    assert stored(svc) == "1"
