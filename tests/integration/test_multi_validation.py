"""it.multi.validation: two `serve` instances on one database (same signing key, the pepper
in the database) are one service to a client: a validation session started (requestToken)
on one is finished (submitToken, then bind) on the other, both ways; the link of the mail,
which names the instance that queued it, works on the other one too; the association is
signed with the one key (checked against the other instance's published key) and found
by a lookup on either instance; an access token registered on one is valid on the other."""
from urllib.parse import parse_qs, urlparse

import pytest
import requests

import harness
from fake_hs import FakeHomeserver
from multi_env import NO_LIMITS, V2, Pair, link_of, other_port, request_token
from smtp_sink import SmtpSink
from test_bind_lookup import lookup_hash, verify_signed


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


def auth_of(svc, hs, mxid):
    return {"Authorization": "Bearer " + harness.register(svc, hs, mxid)}


def bind(svc, auth, sid, mxid):
    r = requests.post(svc.url(V2 + "/3pid/bind"), headers=auth,
                      json={"sid": sid, "client_secret": "sec", "mxid": mxid})
    assert r.status_code == 200, r.text
    return r.json()


def found_by(svc, auth, address):
    pepper = requests.get(svc.url(V2 + "/hash_details"), headers=auth).json()["lookup_pepper"]
    r = requests.post(svc.url(V2 + "/lookup"), headers=auth, json={
        "algorithm": "sha256", "pepper": pepper, "addresses": [lookup_hash(address, "email", pepper)]})
    assert r.status_code == 200, r.text
    return r.json()["mappings"].get(lookup_hash(address, "email", pepper))


def test_started_on_one_finished_on_the_other_by_submit_token(pair):
    a, b = pair.a, pair.b
    auth = auth_of(a, pair.hs, "@alice:hs.test")  # registered on a, used on b
    r = request_token(a, "alice@mer.gouv.fr", auth=auth)
    assert r.status_code == 200, r.text
    sid = r.json()["sid"]
    link = link_of(pair.sink, sid)
    assert f":{a.port}/" in link  # the mail names the instance that queued it
    token = parse_qs(urlparse(link).query)["token"][0]
    r = requests.post(b.url(V2 + "/validate/email/submitToken"), headers=auth,
                      json={"sid": sid, "client_secret": "sec", "token": token})
    assert r.status_code == 200 and r.json() == {"success": True}, r.text
    assoc = bind(b, auth, sid, "@alice:hs.test")
    assert assoc["address"] == "alice@mer.gouv.fr" and assoc["mxid"] == "@alice:hs.test"
    verify_signed(a, assoc)  # b signed it with the key a publishes
    assert found_by(a, auth, "alice@mer.gouv.fr") == "@alice:hs.test"
    assert found_by(b, auth, "alice@mer.gouv.fr") == "@alice:hs.test"


def test_started_on_the_other_finished_by_the_link_on_the_first(pair):
    a, b = pair.a, pair.b
    auth = auth_of(b, pair.hs, "@bob:hs.test")
    r = request_token(b, "bob@mer.gouv.fr", auth=auth)
    assert r.status_code == 200, r.text
    sid = r.json()["sid"]
    link = link_of(pair.sink, sid)
    assert f":{b.port}/" in link
    # The link opened on a (a load balancer may send the browser to either).
    r = requests.get(other_port(link, a), timeout=10)
    assert r.status_code == 200, r.text
    r = requests.get(b.url(V2 + "/3pid/getValidated3pid"), headers=auth,
                     params={"sid": sid, "client_secret": "sec"})
    assert r.status_code == 200 and r.json()["address"] == "bob@mer.gouv.fr", r.text
    assoc = bind(a, auth, sid, "@bob:hs.test")
    verify_signed(b, assoc)
    assert found_by(b, auth, "bob@mer.gouv.fr") == "@bob:hs.test"
    # Both instances publish the same long-term key.
    keys = [requests.get(s.url(V2 + "/pubkey/ed25519:0")).json() for s in (a, b)]
    assert keys[0] == keys[1]
