"""it.invite.lifecycle: one invitation, pending -> used or expired, in PostgreSQL. An agent
invites an external by store-invite: the row is pending with its absolute expiry, the mail
reaches the SMTP listener, internal-info says invited and the enrollment gate lets the
address through; its binding makes the invitation used by the bound Matrix ID (audit
rows: created, mailed, used), carries it to the homeserver (onbind with valid signatures)
and sets delivered_at, after which internal-info says not invited. Past its expires_at an
invitation stops counting at once and the sweep marks it expired (audit row, by the
system); two instances sweeping one database expire each invitation once. A recycled address (unbound, then bound by someone else) carries nothing the first
owner got, even while the first callback is still undelivered (v2 and v1 bind). A VIP
invitation opens the gate and is used on bind too, with nothing to carry."""
import json
import re
from types import SimpleNamespace

import pytest
import requests

import harness
import ports
from fake_hs import FakeHomeserver
from harness import assert_matrix_error
from routing_env import V1, V2, Services, homeservers_config, routing_config, write_mapping
from smtp_sink import SmtpSink
from test_bind_lookup import verify_signed

AGENT = "@alice:agent.interieur.test"
BOB = "@bob:agent.externe.test"


def psql(svc, sql):
    return svc.cluster.psql(sql, db=svc.db).strip()


def audit(svc, action):
    """The audit rows of action: actor_kind|actor|object_kind|object_id|outcome|details."""
    return psql(svc, "SELECT actor_kind, actor, object_kind, object_id, outcome, details::text"
                     f" FROM annuaire.audit_log WHERE action = '{action}' ORDER BY id").splitlines()


def auth_for(svc, hs, user_id):
    server = user_id.split(":", 1)[1]
    return {"Authorization": "Bearer " + harness.register(svc, hs, user_id, server=server)}


@pytest.fixture
def make_env(cluster, tmp_path):
    services = Services(cluster)

    def make(extra=""):
        port = ports.reserve()
        svc, sink, hs = services.start(lambda hs: homeservers_config(hs) + routing_config(
            write_mapping(tmp_path), routing_extra=f"  internal_port: {port}\n"
            "  external_servers: [agent.externe.test]\n", extra=extra))
        return SimpleNamespace(svc=svc, sink=sink, hs=hs, internal=port)

    yield make
    services.close()


def invited(e, address="bob@gmail.com"):
    r = requests.get(f"http://127.0.0.1:{e.internal}{V1}/internal-info",
                     params={"medium": "email", "address": address})
    assert r.status_code == 200, r.text
    return r.json()["invited"]


def request_token(e, auth, address, secret="sec"):
    return requests.post(e.svc.url(V2 + "/validate/email/requestToken"), headers=auth,
                         json={"client_secret": secret, "email": address, "send_attempt": 1})


def validate(e, auth, address, secret="sec"):
    """requestToken (through the gate) and the link of its mail: the session's sid."""
    r = request_token(e, auth, address, secret)
    assert r.status_code == 200, r.text
    sid = r.json()["sid"]

    def link_in(msg):
        m = re.search(r"https?://\S+submitToken\S+", msg.get_body(("plain",)).get_content())
        return m.group(0) if m and f"sid={sid}" in m.group(0) else None

    assert requests.get(link_in(e.sink.wait_for(link_in)[2])).status_code == 200
    return sid


def bob_binds(e):
    """Bob validates bob@gmail.com (through the gate) and binds it (v2); the signed association."""
    bob = auth_for(e.svc, e.hs, BOB)
    sid = validate(e, bob, "bob@gmail.com")
    r = requests.post(e.svc.url(V2 + "/3pid/bind"), headers=bob,
                      json={"sid": sid, "client_secret": "sec", "mxid": BOB})
    assert r.status_code == 200, r.text
    verify_signed(e.svc, r.json())
    return r.json()


def store_invite(e, auth, address="Bob@Gmail.com", sender=AGENT, room="!crise:agent.interieur.test"):
    return requests.post(e.svc.url(V2 + "/store-invite"), headers=auth, json={
        "medium": "email", "address": address, "room_id": room, "sender": sender,
        "room_name": "Cellule de crise"})


def test_store_invite_to_onbind(make_env):
    e = make_env("invites:\n  validity: 86400\n")
    svc = e.svc
    alice = auth_for(svc, e.hs, AGENT)
    assert invited(e) is False
    assert_matrix_error(request_token(e, alice, "bob@gmail.com"), 403, "M_FORBIDDEN")

    r = store_invite(e, alice)
    assert r.status_code == 200, r.text
    token = r.json()["token"]
    eph = r.json()["public_keys"][1]["public_key"]
    iid = psql(svc, "SELECT id FROM annuaire.invites")
    # Stored pending, under the canonical address, with its absolute expiry.
    assert psql(svc, "SELECT kind, state, address, sender, sender_server, verified_by,"
                     " expires_at = created_at + interval '1 day', used_by IS NULL"
                     " FROM annuaire.invites") == \
        f"room|pending|bob@gmail.com|{AGENT}|agent.interieur.test|token|t|t"
    created = audit(svc, "invitation.created")
    assert len(created) == 1
    kind, actor, okind, oid, outcome, details = created[0].split("|", 5)
    assert (kind, actor, okind, oid, outcome) == ("user", AGENT, "invitation", iid, "ok")
    assert json.loads(details) == {"homeserver": "agent.interieur.test", "address": "bob@gmail.com",
                                   "room_id": "!crise:agent.interieur.test", "verified_by": "token"}
    assert token not in created[0] and eph not in created[0]

    # The mail, to exactly that address; its sending is counted and in the audit log.
    mail = e.sink.wait_for(lambda m: "Cellule de crise" in m.get_body(("plain",)).get_content())
    assert mail[1] == ["bob@gmail.com"]
    harness.wait_until(lambda: psql(svc, "SELECT mailed_count FROM annuaire.invites") == "1", 10)
    assert [row.split("|")[3] for row in audit(svc, "invitation.mailed")] == [iid]

    # Invited: internal-info says so, and the gate lets Bob validate his address.
    assert invited(e) is True
    assoc = bob_binds(e)
    assert [i["signed"]["token"] for i in assoc["invites"]] == [token]
    verify_signed(svc, assoc["invites"][0]["signed"])

    # Used by Bob, at once; no longer invited.
    assert psql(svc, "SELECT state, used_by, used_at IS NOT NULL FROM annuaire.invites") == \
        f"used|{BOB}|t"
    used = audit(svc, "invitation.used")
    assert len(used) == 1 and used[0].split("|")[:5] == ["user", BOB, "invitation", iid, "ok"]
    assert invited(e) is False

    # The homeserver is called back with the signed association; then delivered_at is set.
    harness.wait_until(lambda: len(e.hs.onbind) >= 1, 20)
    status, body = e.hs.onbind[0]
    assert status == 200 and body == assoc
    verify_signed(svc, body)
    verify_signed(svc, body["invites"][0]["signed"])
    harness.wait_until(lambda: psql(svc, "SELECT delivered_at IS NOT NULL FROM annuaire.invites") == "t", 10)
    assert psql(svc, "SELECT count(*) FROM annuaire.invites") == "1"  # kept
    assert requests.get(svc.url(V2 + "/pubkey/ephemeral/isvalid"),
                        params={"public_key": eph}).json() == {"valid": False}


def test_expiry(make_env):
    e = make_env("invites:\n  validity: 3600\n")
    svc = e.svc
    alice = auth_for(svc, e.hs, AGENT)
    assert store_invite(e, alice).status_code == 200
    assert store_invite(e, alice, "carol@gmail.com").status_code == 200
    assert invited(e) is True and invited(e, "carol@gmail.com") is True
    # Bob's invitation reaches its expiry (as an hour passing would make it).
    psql(svc, "UPDATE annuaire.invites SET expires_at = now() - interval '1 second'"
              " WHERE address = 'bob@gmail.com'")
    # Past its expiry it counts no more, swept or not: internal-info and the gate say so.
    assert invited(e) is False
    bob = auth_for(svc, e.hs, BOB)
    r = request_token(e, bob, "bob@gmail.com")
    assert_matrix_error(r, 403, "M_FORBIDDEN")
    assert "invitation" in r.json()["error"]
    # The sweep (woken as a new invitation's expiry would) marks it expired, once.
    psql(svc, "SELECT pg_notify('annuaire_invites', '')")
    harness.wait_until(lambda: psql(svc, "SELECT state FROM annuaire.invites"
                                         " WHERE address = 'bob@gmail.com'") == "expired", 40)
    bob_id = psql(svc, "SELECT id FROM annuaire.invites WHERE address = 'bob@gmail.com'")
    expired = audit(svc, "invitation.expired")
    assert len(expired) == 1
    assert expired[0].split("|")[:5] == ["system", "system", "invitation", bob_id, "ok"]
    assert json.loads(expired[0].split("|", 5)[5]) == {"kind": "room", "address": "bob@gmail.com"}
    # Carol's is still pending, and still lets her in.
    assert psql(svc, "SELECT state FROM annuaire.invites WHERE address = 'carol@gmail.com'") == "pending"
    assert invited(e, "carol@gmail.com") is True
    assert invited(e) is False
    assert_matrix_error(request_token(e, bob, "bob@gmail.com", "other"), 403, "M_FORBIDDEN")


def test_no_validity_never_expires(make_env):
    e = make_env()
    alice = auth_for(e.svc, e.hs, AGENT)
    assert store_invite(e, alice).status_code == 200
    assert psql(e.svc, "SELECT state, expires_at IS NULL FROM annuaire.invites") == "pending|t"
    assert invited(e) is True


@pytest.fixture
def recycled(cluster):
    """No routing; hs.test's callbacks fail (the first owner's stays undelivered)."""
    hs = FakeHomeserver()
    hs.onbind_status = [500]
    sink = SmtpSink()
    legacy = 'legacy:\n  homeservers: {"hs.test": ["127.0.0.1/32", "::1/128"]}\n'
    try:
        with harness.Service(cluster, config=harness.homeserver_config(hs) + legacy,
                             smtp_port=sink.port) as svc:
            yield SimpleNamespace(svc=svc, sink=sink, hs=hs)
    finally:
        sink.stop()
        hs.close()


@pytest.mark.parametrize("version", ["v2", "v1"])
def test_recycled_address_gets_nothing_already_carried(recycled, version):
    e, svc = recycled, recycled.svc
    alice = auth_for(svc, e.hs, "@alice:hs.test")
    r = store_invite(e, alice, "carol@example.org", sender="@alice:hs.test", room="!room:hs.test")
    assert r.status_code == 200, r.text
    token = r.json()["token"]

    def bind(user, secret):
        auth = auth_for(svc, e.hs, user)
        sid = validate(e, auth, "carol@example.org", secret)
        if version == "v1":
            return sid, requests.post(svc.url(V1 + "/3pid/bind"),
                                      json={"sid": sid, "client_secret": secret, "mxid": user})
        return sid, requests.post(svc.url(V2 + "/3pid/bind"), headers=auth,
                                  json={"sid": sid, "client_secret": secret, "mxid": user})

    sid, first = bind("@carol:hs.test", "first")
    assert first.status_code == 200, first.text
    assert [i["signed"]["token"] for i in first.json()["invites"]] == [token]
    # Carol gives the address up before her callback could be delivered.
    r = requests.post(svc.url(V2 + "/3pid/unbind"), json={
        "sid": sid, "client_secret": "first", "mxid": "@carol:hs.test",
        "threepid": {"medium": "email", "address": "carol@example.org"}})
    assert r.status_code == 200, r.text
    assert psql(svc, "SELECT count(*) FROM annuaire.associations") == "0"
    # Dave gets the address: the invitation Carol took is not his.
    _, second = bind("@dave:hs.test", "second")
    assert second.status_code == 200, second.text
    assert "invites" not in second.json()
    assert psql(svc, "SELECT count(*) FROM annuaire.onbind_queue") == "1"
    assert psql(svc, "SELECT destination FROM annuaire.onbind_queue") == "hs.test"
    assert token not in psql(svc, "SELECT body::text FROM annuaire.onbind_queue WHERE body::text LIKE"
                                  " '%@dave:hs.test%'")
    assert psql(svc, "SELECT state, used_by FROM annuaire.invites") == "used|@carol:hs.test"
    assert [row.split("|")[1] for row in audit(svc, "invitation.used")] == ["@carol:hs.test"]


def test_two_instances_expire_each_invitation_once(cluster):
    # 250 invitations past their expiry (more than two batches), swept by two instances
    # started together on one database: each expired once, with one audit row.
    a = harness.Service(cluster)
    b = harness.Service(cluster, db=a.db, migrate=False)
    assert b.run("keys", "generate").returncode == 0
    a.cluster.psql(
        "INSERT INTO annuaire.invites (token, medium, address, room_id, sender, ephemeral_public_key,"
        " verified_by, sender_server, expires_at)"
        " SELECT 't' || i, 'email', 'x' || i || '@example.org', '!r:hs.test', '@a:hs.test', 'k' || i,"
        " 'token', 'hs.test', now() - interval '1 minute' FROM generate_series(1, 250) AS i", db=a.db)
    try:
        a.start()
        b.start()
        harness.wait_until(lambda: psql(a, "SELECT count(*) FROM annuaire.invites"
                                           " WHERE state = 'pending'") == "0", 60)
        assert a.stop() == 0 and b.stop() == 0
        assert psql(a, "SELECT count(*), count(DISTINCT object_id) FROM annuaire.audit_log"
                       " WHERE action = 'invitation.expired'") == "250|250"
        assert psql(a, "SELECT count(*) FROM annuaire.invites WHERE state = 'expired'") == "250"
    finally:
        for svc in (a, b):
            if svc.proc is not None:
                svc.stop()


def test_vip_invitation_opens_the_gate_and_is_used_on_bind(make_env):
    # A VIP invitation as the admin module stores it: no room, sender or ephemeral key.
    e = make_env()
    svc = e.svc
    psql(svc, "INSERT INTO annuaire.invites (token, medium, address, kind, verified_by, inviter,"
              " created_by, expires_at) VALUES ('vip-1', 'email', 'bob@gmail.com', 'vip', 'admin',"
              " 'La ministre', 'ops', now() + interval '30 days')")
    assert invited(e) is True
    assert "invites" not in bob_binds(e)  # nothing for a homeserver to join
    assert psql(svc, "SELECT state, used_by FROM annuaire.invites") == f"used|{BOB}"
    assert psql(svc, "SELECT count(*) FROM annuaire.onbind_queue") == "0"
    used = audit(svc, "invitation.used")
    assert len(used) == 1 and used[0].split("|")[:2] == ["user", BOB]
    assert json.loads(used[0].split("|", 5)[5]) == {"kind": "vip", "address": "bob@gmail.com"}
    assert invited(e) is False
    # Its token is no room invitation's: sign-ed25519 does not know it.
    assert_matrix_error(requests.post(svc.url(V1 + "/sign-ed25519"), json={
        "mxid": BOB, "token": "vip-1", "private_key": "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE"}),
        404, "M_UNRECOGNIZED")
