"""it.routing.enroll: what routing decides for enrollment. requestToken for an address that
could register nowhere (an invitation required and none pending; an annuaire platform
and not one of its agents; no homeserver at all) is refused with 403 M_FORBIDDEN and
no mail; bind to a Matrix ID on another server than the mapped one (or its twin) is
400 M_BINDING_NOT_PERMITTED; next_link must be http(s) and on the allow-list, and a
validated session refuses another next_link."""
import re
import time

import pytest
import requests

import harness
from fake_hs import FakeHomeserver
from harness import assert_matrix_error
from routing_env import V2, culture_source, routing_config, sync_culture, write_mapping
from smtp_sink import SmtpSink


@pytest.fixture
def env(cluster, tmp_path):
    hs = FakeHomeserver()
    sink = SmtpSink()
    path = write_mapping(tmp_path)
    config = routing_config(path, hs=hs, routing_extra="  annuaire_servers: [agent.culture.test]\n",
                            extra="validation:\n  next_link_domains: [app.tchap.test]\n") + culture_source()
    try:
        with harness.Service(cluster, config=config, smtp_port=sink.port) as svc:
            sync_culture(svc)
            yield svc, sink, hs
    finally:
        sink.stop()
        hs.close()


def auth_for(svc, hs, user_id):
    server = user_id.split(":", 1)[1]
    return {"Authorization": "Bearer " + harness.register(svc, hs, user_id, server=server)}


def request_token(svc, auth, email, secret="s3cret", attempt=1, **extra):
    return requests.post(svc.url(V2 + "/validate/email/requestToken"), headers=auth,
                         json={"client_secret": secret, "email": email, "send_attempt": attempt, **extra})


def mails(svc):
    return svc.cluster.psql("SELECT count(*) FROM annuaire.mail_outbox", db=svc.db).strip()


def link_in(sink, sid):
    def find(msg):
        m = re.search(r"https?://\S+submitToken\S+", msg.get_body(("plain",)).get_content())
        return m.group(0) if m and f"sid={sid}" in m.group(0) else None
    return find(sink.wait_for(find)[2])


def test_enrollment_gate(env):
    svc, sink, hs = env
    auth = auth_for(svc, hs, "@alice:agent.interieur.test")
    # The externals' server requires an invitation: none, no mail.
    r = request_token(svc, auth, "bob@gmail.com")
    assert_matrix_error(r, 403, "M_FORBIDDEN")
    assert "invitation" in r.json()["error"]
    # An annuaire platform: only its agents.
    r = request_token(svc, auth, "stranger@culture.gouv.fr")
    assert_matrix_error(r, 403, "M_FORBIDDEN")
    assert "directory" in r.json()["error"]
    assert mails(svc) == "0"
    # An agent of the annuaire, an agents' server without that rule, the exact entry.
    for address in ("Elodie.Martin@culture.gouv.fr", "jean@interieur.gouv.fr",
                    "prestataire@partenaire.test"):
        r = request_token(svc, auth, address)
        assert r.status_code == 200, (address, r.text)
    # Once invited, the external may enroll.
    r = requests.post(svc.url(V2 + "/store-invite"), headers=auth, json={
        "medium": "email", "address": "Bob@Gmail.com", "room_id": "!room:agent.interieur.test",
        "sender": "@alice:agent.interieur.test"})
    assert r.status_code == 200, r.text
    assert request_token(svc, auth, "bob@gmail.com").status_code == 200


def test_gate_without_catch_all_and_gate_off(cluster, tmp_path):
    path = write_mapping(tmp_path, "medium:\n  email:\n    patterns:\n      - '.*@a\\.test': {hs: a.test}\n")
    with harness.Service(cluster, config=routing_config(path)) as svc:
        r = requests.post(svc.url("/_matrix/identity/api/v1/validate/email/requestToken"),
                          json={"client_secret": "s", "email": "x@b.test", "send_attempt": 1})
        assert_matrix_error(r, 403, "M_FORBIDDEN")
        assert "no homeserver" in r.json()["error"]
    with harness.Service(cluster, config=routing_config(
            path, routing_extra="  enrollment_gate: false\n")) as svc:
        r = requests.post(svc.url("/_matrix/identity/api/v1/validate/email/requestToken"),
                          json={"client_secret": "s", "email": "x@b.test", "send_attempt": 1})
        assert r.status_code == 200, r.text


def test_bind_restriction(env):
    svc, sink, hs = env
    for mxid, status in (("@jean:hs.test", 400), ("@jean:agent.culture.test", 400),
                         ("@jean:agent.interieur.test", 200), ("@jean:internet.interieur.test", 200)):
        auth = auth_for(svc, hs, mxid)
        secret = "sec" + str(abs(hash(mxid)))
        sid = request_token(svc, auth, "jean@interieur.gouv.fr", secret=secret).json()["sid"]
        assert requests.get(link_in(sink, sid)).status_code == 200
        r = requests.post(svc.url(V2 + "/3pid/bind"), headers=auth,
                          json={"sid": sid, "client_secret": secret, "mxid": mxid})
        if status == 400:
            assert_matrix_error(r, 400, "M_BINDING_NOT_PERMITTED")
        else:
            assert r.status_code == 200, r.text
            assert r.json()["mxid"] == mxid


def test_next_link(env):
    svc, sink, hs = env
    auth = auth_for(svc, hs, "@alice:agent.interieur.test")
    for bad in ("ftp://app.tchap.test/", "javascript:alert(1)", "https://evil.test/",
                "https://app.tchap.test@evil.test/", "https://app.tchap.test.evil.test/",
                "https://evil.test\\@app.tchap.test/", "https://evil.test:443\\@app.tchap.test",
                "https://a@app.tchap.test:1@evil.test/", "https://user@app.tchap.test/"):
        assert_matrix_error(request_token(svc, auth, "jean@interieur.gouv.fr", next_link=bad), 400,
                            "M_INVALID_PARAM")
    first = "https://app.tchap.test/welcome"
    r = request_token(svc, auth, "jean@interieur.gouv.fr", next_link=first)
    assert r.status_code == 200, r.text
    sid = r.json()["sid"]
    r = requests.get(link_in(sink, sid), allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"] == first
    # The same session asks for another next_link: its new link no longer redirects.
    other = "https://app.tchap.test:8443/elsewhere"
    r = request_token(svc, auth, "jean@interieur.gouv.fr", attempt=2, next_link=other)
    assert r.status_code == 200 and r.json()["sid"] == sid
    time.sleep(0.1)
    links = [m for m in sink.messages if f"sid={sid}" in m[2].get_body(("plain",)).get_content()]
    assert len(links) == 2
    second = re.search(r"https?://\S+submitToken\S+", links[1][2].get_body(("plain",)).get_content()).group(0)
    r = requests.get(second, allow_redirects=False)
    assert r.status_code == 400 and "Location" not in r.headers
    token = re.search(r"token=([^&\s]+)", second).group(1)
    r = requests.post(svc.url(V2 + "/validate/email/submitToken"), headers=auth,
                      json={"sid": sid, "client_secret": "s3cret", "token": token})
    assert_matrix_error(r, 400, "M_INVALID_PARAM")
