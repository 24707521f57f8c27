"""it.invite.forged: only an authenticated sender's invitation counts. v1 store-invite is
off by default (403, no mail queued, nothing stored, internal-info `invited` stays false,
the enrollment gate stays closed); v2 refuses a `sender` other than the token's user and a
sender on a homeserver the routing does not know; a v1 caller listed in legacy.homeservers
invites only for users of its own homeserver, from its own network."""
import pytest
import requests

import harness
import ports
from fake_hs import FakeHomeserver
from harness import assert_matrix_error
from routing_env import SERVERS, V1, V2, write_mapping
from smtp_sink import SmtpSink


def config(path, hs, internal_port, legacy=""):
    names = SERVERS + ("evil.test",)
    return ("account:\n  homeservers: {" + ", ".join(f'"{n}": "{hs.base_url}"' for n in names) + "}\n"
            f"routing:\n  info_file: {path}\n  internal_port: {internal_port}\n" + legacy)


@pytest.fixture
def make_env(cluster, tmp_path):
    made = []

    def make(legacy=""):
        hs = FakeHomeserver()
        sink = SmtpSink()
        port = ports.reserve()
        svc = harness.Service(cluster, smtp_port=sink.port,
                              config=config(write_mapping(tmp_path), hs, port, legacy))
        made.append((svc, sink, hs))
        svc.start()
        return svc, sink, hs, port

    yield make
    for svc, sink, hs in made:
        try:
            assert svc.stop() == 0, svc.read_log()
        finally:
            sink.stop()
            hs.close()


def invite_body(sender, address="bob@gmail.com"):
    return {"medium": "email", "address": address, "room_id": "!room:agent.interieur.test",
            "sender": sender, "room_name": "Prime exceptionnelle",
            "org.matrix.web_client_location": "https://phishing.test"}


def auth_for(svc, hs, user_id):
    server = user_id.split(":", 1)[1]
    return {"Authorization": "Bearer " + harness.register(svc, hs, user_id, server=server)}


def count(svc, table):
    return svc.cluster.psql(f"SELECT count(*) FROM annuaire.{table}", db=svc.db).strip()


def invited(port, address="bob@gmail.com"):
    r = requests.get(f"http://127.0.0.1:{port}{V1}/internal-info",
                     params={"medium": "email", "address": address})
    assert r.status_code == 200, r.text
    return r.json()["invited"]


def gate_open(svc, address="bob@gmail.com"):
    r = requests.post(svc.url(V1 + "/validate/email/requestToken"),
                      json={"client_secret": "s3cret", "email": address, "send_attempt": 1})
    if r.status_code == 403:
        assert_matrix_error(r, 403, "M_FORBIDDEN")
        return False
    assert r.status_code == 200, r.text
    return True


def assert_nothing_stored(svc, port):
    assert count(svc, "invites") == "0"
    assert count(svc, "mail_outbox") == "0"
    assert invited(port) is False
    assert not gate_open(svc)


def test_v1_off_by_default(make_env):
    svc, sink, hs, port = make_env()
    r = requests.post(svc.url(V1 + "/store-invite"), json=invite_body("@ministre:agent.interieur.test"))
    assert_matrix_error(r, 403, "M_FORBIDDEN")
    assert "disabled" in r.json()["error"]
    assert_nothing_stored(svc, port)
    # Even with a body the v1 spec would refuse: disabled is said first.
    assert_matrix_error(requests.post(svc.url(V1 + "/store-invite"), json={}), 403, "M_FORBIDDEN")


def test_v2_sender_is_the_token_user(make_env):
    svc, sink, hs, port = make_env()
    alice = auth_for(svc, hs, "@alice:agent.interieur.test")
    for forged in ("@ministre:agent.interieur.test", "@Alice:agent.interieur.test",
                   "@alice:agent.culture.test"):
        r = requests.post(svc.url(V2 + "/store-invite"), headers=alice, json=invite_body(forged))
        assert_matrix_error(r, 403, "M_FORBIDDEN")
        assert "sender" in r.json()["error"]
    # A homeserver the routing does not know: its users invite nobody.
    eve = auth_for(svc, hs, "@eve:evil.test")
    r = requests.post(svc.url(V2 + "/store-invite"), headers=eve, json=invite_body("@eve:evil.test"))
    assert_matrix_error(r, 403, "M_FORBIDDEN")
    assert "homeserver" in r.json()["error"]
    assert_nothing_stored(svc, port)
    assert sink.messages == []

    # The sender itself, on a routed homeserver: stored, mailed, and it opens the gate.
    r = requests.post(svc.url(V2 + "/store-invite"), headers=alice,
                      json=invite_body("@alice:agent.interieur.test"))
    assert r.status_code == 200, r.text
    assert invited(port) is True
    assert gate_open(svc)
    mail = sink.wait_for(lambda m: "Prime exceptionnelle" in m.get_body(("plain",)).get_content())
    assert mail[1] == ["bob@gmail.com"]
    # The twin of a routed server is a routed server too.
    twin = auth_for(svc, hs, "@alice:internet.interieur.test")
    r = requests.post(svc.url(V2 + "/store-invite"), headers=twin,
                      json=invite_body("@alice:internet.interieur.test", "carol@gmail.com"))
    assert r.status_code == 200, r.text


def test_v1_listed_caller_invites_for_its_own_homeserver(make_env):
    legacy = 'legacy:\n  homeservers: {"agent.interieur.test": ["127.0.0.1/32", "::1/128"]}\n'
    svc, sink, hs, port = make_env(legacy)
    for sender in ("@ministre:agent.culture.test", "@eve:evil.test",
                   "@alice:internet.interieur.test"):  # the twin is another homeserver
        r = requests.post(svc.url(V1 + "/store-invite"), json=invite_body(sender))
        assert_matrix_error(r, 403, "M_FORBIDDEN")
    assert_nothing_stored(svc, port)
    r = requests.post(svc.url(V1 + "/store-invite"), json=invite_body("@alice:agent.interieur.test"))
    assert r.status_code == 200, r.text
    assert invited(port) is True
    assert svc.cluster.psql("SELECT sender, verified_by FROM annuaire.invites", db=svc.db).strip() == \
        "@alice:agent.interieur.test|legacy"


def test_v1_caller_outside_its_network(make_env):
    # Listed, but for another network than the one this call comes from.
    svc, sink, hs, port = make_env('legacy:\n  homeservers: {"agent.interieur.test": ["10.0.0.0/24"]}\n')
    r = requests.post(svc.url(V1 + "/store-invite"), json=invite_body("@alice:agent.interieur.test"),
                      headers={"X-Forwarded-For": "10.0.0.5"})  # from a peer that is no trusted proxy
    assert_matrix_error(r, 403, "M_FORBIDDEN")
    assert_nothing_stored(svc, port)
