"""it.multi.onbind: the onbind queue worked by two `serve` instances on one database, filled
by real binds: invitations stored through both instances, each invited address validated
and bound on one or the other, and a homeserver that takes 2 s to answer a callback (so
that a callback is queued while the other instance is busy with one): every callback
reaches the homeserver exactly once, with the invitation, and both instances delivered."""
import collections

import pytest
import requests

import harness
from fake_hs import FakeHomeserver
from multi_env import NO_LIMITS, V2, Pair, link_of, other_port, request_token
from smtp_sink import SmtpSink

INVITEES = [f"guest{i}@example.org" for i in range(4)]


@pytest.fixture
def pair(cluster):
    hs = FakeHomeserver()
    sink = SmtpSink()
    try:
        with Pair(cluster, config=harness.homeserver_config(hs) + NO_LIMITS,
                  smtp_port=sink.port) as p:
            p.hs, p.sink = hs, sink
            yield p
    finally:
        sink.stop()
        hs.close()


def pending(pair):
    return pair.sql("SELECT count(*) FROM annuaire.onbind_queue WHERE done_at IS NULL").strip()


def test_callbacks_once_across_instances(pair):
    a, b, hs = pair.a, pair.b, pair.hs
    alice = {"Authorization": "Bearer " + harness.register(a, hs, "@alice:hs.test")}
    for i, address in enumerate(INVITEES):
        svc = (a, b)[i % 2]
        r = requests.post(svc.url(V2 + "/store-invite"), headers=alice, json={
            "medium": "email", "address": address, "room_id": f"!room{i}:hs.test",
            "sender": "@alice:hs.test", "room_name": "Cellule de crise",
            "sender_display_name": "Alice Martin"})
        assert r.status_code == 200, r.text
    hs.onbind_delay = 2.0
    for i, address in enumerate(INVITEES):
        here, there = ((a, b), (b, a))[i % 2]
        mxid = f"@guest{i}:hs.test"
        auth = {"Authorization": "Bearer " + harness.register(here, hs, mxid)}
        r = request_token(here, address, auth=auth)
        assert r.status_code == 200, r.text
        sid = r.json()["sid"]
        assert requests.get(other_port(link_of(pair.sink, sid), there)).status_code == 200
        r = requests.post(there.url(V2 + "/3pid/bind"), headers=auth,
                          json={"sid": sid, "client_secret": "sec", "mxid": mxid})
        assert r.status_code == 200, r.text
        assert len(r.json()["invites"]) == 1
    harness.wait_until(lambda: pending(pair) == "0", timeout=60)
    assert pair.stop() == [0, 0]  # no call can still be under way
    got = collections.Counter(body["address"] for status, body in hs.onbind)
    assert got == collections.Counter(INVITEES), got
    for status, body in hs.onbind:
        assert status == 200 and len(body["invites"]) == 1
        assert body["invites"][0]["room_id"] == f"!room{INVITEES.index(body['address'])}:hs.test"
    for svc in (a, b):
        log = svc.read_log()
        assert "delivered to hs.test" in log, log  # both took part
        assert "could not be recorded" not in log
