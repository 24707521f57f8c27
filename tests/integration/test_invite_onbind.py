"""it.invite.onbind: store-invite (mail, redacted display name, ephemeral key),
sign-ed25519, M_THREEPID_IN_USE; binding the invited address carries the invites and
calls the homeserver back (POST onbind), retried after a failure, tokens dropped after;
an invitation that expired (invites.validity) while the session was open is neither
carried nor shown, and stays unused (its ephemeral key invalid, sign-ed25519 refused)."""
import base64
import json
import re
import time

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

import harness
from fake_hs import FakeHomeserver
from harness import assert_matrix_error
from smtp_sink import SmtpSink
from test_bind_lookup import unb64, validated_session, verify_signed

V1 = "/_matrix/identity/api/v1"
V2 = "/_matrix/identity/v2"


@pytest.fixture
def env(identity):
    return identity


def invite(svc, auth, address, **extra):
    return requests.post(svc.url(V2 + "/store-invite"), headers=auth, json={
        "medium": "email", "address": address, "room_id": "!room:hs.test", "sender": "@alice:hs.test",
        "room_name": "Cellule de crise", "sender_display_name": "Alice Martin", **extra})


def test_invite_then_bind(env, cluster):
    svc, sink, hs = env
    alice = {"Authorization": "Bearer " + harness.register(svc, hs, "@alice:hs.test")}
    r = invite(svc, alice, "Carol@Example.org", **{"org.matrix.web_client_location": "https://app.test"})
    assert r.status_code == 200, r.text
    inv = r.json()
    assert inv["display_name"] == "Car...@Exa..."
    assert re.fullmatch(r"[0-9a-zA-Z.=_-]{1,255}", inv["token"])
    longterm = requests.get(svc.url(V2 + "/pubkey/ed25519:0")).json()["public_key"]
    assert inv["public_key"] == longterm
    assert inv["public_keys"][0] == {"public_key": longterm,
                                     "key_validity_url": svc.url(V2 + "/pubkey/isvalid")}
    eph = inv["public_keys"][1]["public_key"]
    assert inv["public_keys"][1]["key_validity_url"] == svc.url(V2 + "/pubkey/ephemeral/isvalid")
    for prefix in (V1, V2):
        assert requests.get(svc.url(prefix + "/pubkey/ephemeral/isvalid"),
                            params={"public_key": eph}).json() == {"valid": True}
    assert requests.get(svc.url(V2 + "/pubkey/ephemeral/isvalid"),
                        params={"public_key": longterm}).json() == {"valid": False}

    msg = sink.wait(1)[0]
    assert msg[1] == ["carol@example.org"]  # the address the invite is stored under
    assert msg[2]["Subject"] == "Alice Martin vous invite sur Tchap"
    body = msg[2].get_body(("plain",)).get_content()
    assert "Cellule de crise" in body and "https://app.test" in body

    # The invited person signs with the ephemeral key (sydent puts it in the mail's variables).
    # Any Ed25519 key works for the mechanics; check the signature with an independent library.
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives import serialization
    priv = Ed25519PrivateKey.generate()
    seed = priv.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                              serialization.NoEncryption())
    r = requests.post(svc.url(V2 + "/sign-ed25519"), headers=alice, json={
        "mxid": "@carol:hs.test", "token": inv["token"],
        "private_key": base64.b64encode(seed).decode().rstrip("=")})
    assert r.status_code == 200, r.text
    signed = r.json()
    assert {k: signed[k] for k in ("mxid", "sender", "token")} == {
        "mxid": "@carol:hs.test", "sender": "@alice:hs.test", "token": inv["token"]}
    canonical = json.dumps({k: signed[k] for k in ("mxid", "sender", "token")}, sort_keys=True,
                           separators=(",", ":")).encode()
    priv.public_key().verify(unb64(signed["signatures"]["is.test"]["ed25519:0"]), canonical)
    assert_matrix_error(requests.post(svc.url(V2 + "/sign-ed25519"), headers=alice, json={
        "mxid": "@carol:hs.test", "token": "nope", "private_key": base64.b64encode(seed).decode()}),
        404, "M_UNRECOGNIZED")

    # Carol registers and binds: the bind answer carries the invite, the homeserver is called.
    hs.onbind_status = [500, 200]  # the first callback fails, the retry succeeds
    carol = {"Authorization": "Bearer " + harness.register(svc, hs, "@carol:hs.test")}
    sid = validated_session(svc, sink, carol, "carol@example.org")
    r = requests.post(svc.url(V2 + "/3pid/bind"), headers=carol,
                      json={"sid": sid, "client_secret": "sec", "mxid": "@carol:hs.test"})
    assert r.status_code == 200, r.text
    assoc = r.json()
    verify_signed(svc, assoc)  # the invites are under the association's signature
    assert len(assoc["invites"]) == 1
    got = assoc["invites"][0]
    assert got["room_id"] == "!room:hs.test" and got["sender"] == "@alice:hs.test"
    assert got["signed"]["token"] == inv["token"] and got["signed"]["mxid"] == "@carol:hs.test"
    verify_signed(svc, got["signed"])

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(hs.onbind) < 2:
        time.sleep(0.05)
    assert [s for s, _ in hs.onbind] == [500, 200]
    assert hs.onbind[-1][1] == assoc
    # Delivered: the invite and its ephemeral key are gone.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and requests.get(
            svc.url(V2 + "/pubkey/ephemeral/isvalid"), params={"public_key": eph}).json()["valid"]:
        time.sleep(0.05)
    assert requests.get(svc.url(V2 + "/pubkey/ephemeral/isvalid"),
                        params={"public_key": eph}).json() == {"valid": False}
    assert cluster.psql("SELECT count(*) FROM annuaire.invites", db=svc.db).strip() == "0"

    # The address is bound now: a new invite says so.
    r = invite(svc, alice, "carol@example.org")
    assert_matrix_error(r, 400, "M_THREEPID_IN_USE")
    assert r.json()["mxid"] == "@carol:hs.test"


def test_expired_invite_not_carried(cluster):
    hs = FakeHomeserver()
    sink = SmtpSink()
    try:
        with harness.Service(cluster, config=harness.homeserver_config(hs) + "invites:\n  validity: 3600\n",
                             smtp_port=sink.port) as svc:
            alice = {"Authorization": "Bearer " + harness.register(svc, hs, "@alice:hs.test")}
            old = invite(svc, alice, "erin@example.org")
            assert old.status_code == 200, old.text
            erin = {"Authorization": "Bearer " + harness.register(svc, hs, "@erin:hs.test")}
            sid = validated_session(svc, sink, erin, "erin@example.org")
            # While the session is open, the first invitation expires; a second one is fresh.
            svc.cluster.psql("UPDATE annuaire.invites SET created_at = now() - interval '2 hours'"
                             f" WHERE token = '{old.json()['token']}'", db=svc.db)
            fresh = invite(svc, alice, "erin@example.org", room_id="!fresh:hs.test")
            assert fresh.status_code == 200, fresh.text
            # The expired one's ephemeral key is no longer valid, and it cannot be signed.
            for inv, valid in ((old, False), (fresh, True)):
                assert requests.get(svc.url(V2 + "/pubkey/ephemeral/isvalid"), params={
                    "public_key": inv.json()["public_keys"][1]["public_key"]}).json() == {"valid": valid}
            assert_matrix_error(requests.post(svc.url(V2 + "/sign-ed25519"), headers=alice, json={
                "mxid": "@erin:hs.test", "token": old.json()["token"],
                "private_key": base64.b64encode(b"\x01" * 32).decode()}), 404, "M_UNRECOGNIZED")
            r = requests.post(svc.url(V2 + "/3pid/bind"), headers=erin,
                              json={"sid": sid, "client_secret": "sec", "mxid": "@erin:hs.test"})
            assert r.status_code == 200, r.text
            assoc = r.json()
            verify_signed(svc, assoc)
            assert [i["signed"]["token"] for i in assoc["invites"]] == [fresh.json()["token"]]
            assert assoc["invites"][0]["room_id"] == "!fresh:hs.test"
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not hs.onbind:
                time.sleep(0.05)
            assert [i["signed"]["token"] for i in hs.onbind[0][1]["invites"]] == [fresh.json()["token"]]
            # Delivered: the fresh one is gone, the expired one stays, unused.
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and svc.cluster.psql(
                    "SELECT count(*) FROM annuaire.invites", db=svc.db).strip() != "1":
                time.sleep(0.05)
            assert svc.cluster.psql("SELECT token FROM annuaire.invites", db=svc.db).strip() == \
                old.json()["token"]
    finally:
        sink.stop()
        hs.close()

    # Only expired invitations: the bind shows none and calls no homeserver back.
    hs = FakeHomeserver()
    sink = SmtpSink()
    try:
        with harness.Service(cluster, config=harness.homeserver_config(hs) + "invites:\n  validity: 60\n",
                             smtp_port=sink.port) as svc:
            alice = {"Authorization": "Bearer " + harness.register(svc, hs, "@alice:hs.test")}
            assert invite(svc, alice, "fred@example.org").status_code == 200
            fred = {"Authorization": "Bearer " + harness.register(svc, hs, "@fred:hs.test")}
            sid = validated_session(svc, sink, fred, "fred@example.org")
            svc.cluster.psql("UPDATE annuaire.invites SET created_at = now() - interval '2 minutes'",
                             db=svc.db)
            r = requests.post(svc.url(V2 + "/3pid/bind"), headers=fred,
                              json={"sid": sid, "client_secret": "sec", "mxid": "@fred:hs.test"})
            assert r.status_code == 200, r.text
            assert "invites" not in r.json()
            assert svc.cluster.psql("SELECT count(*) FROM annuaire.onbind_queue", db=svc.db).strip() == "0"
            assert svc.cluster.psql("SELECT count(*) FROM annuaire.invites", db=svc.db).strip() == "1"
    finally:
        sink.stop()
        hs.close()


def test_onbind_refused_is_not_retried(env, cluster):
    svc, sink, hs = env
    alice = {"Authorization": "Bearer " + harness.register(svc, hs, "@alice:hs.test")}
    assert invite(svc, alice, "dan@example.org").status_code == 200
    hs.onbind_status = [403]
    dan = {"Authorization": "Bearer " + harness.register(svc, hs, "@dan:hs.test")}
    sid = validated_session(svc, sink, dan, "dan@example.org")
    r = requests.post(svc.url(V2 + "/3pid/bind"), headers=dan,
                      json={"sid": sid, "client_secret": "sec", "mxid": "@dan:hs.test"})
    assert len(r.json()["invites"]) == 1
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and cluster.psql(
            "SELECT count(*) FROM annuaire.onbind_queue WHERE gave_up_at IS NOT NULL", db=svc.db).strip() != "1":
        time.sleep(0.05)
    time.sleep(2.5)  # past the first retry delay: still one call
    assert [s for s, _ in hs.onbind] == [403]


def test_invite_errors(env):
    svc, sink, hs = env
    alice = {"Authorization": "Bearer " + harness.register(svc, hs, "@alice:hs.test")}
    assert_matrix_error(invite(svc, alice, "33612345678", medium="msisdn"), 400, "M_UNRECOGNIZED")
    assert_matrix_error(invite(svc, alice, "not-an-address"), 400, "M_INVALID_EMAIL")
    assert_matrix_error(requests.post(svc.url(V2 + "/store-invite"), headers=alice,
                                      json={"medium": "email", "address": "a@b.fr"}), 400, "M_MISSING_PARAMS")
    assert_matrix_error(invite(svc, {}, "a@b.fr"), 401, "M_UNAUTHORIZED")
    assert_matrix_error(requests.get(svc.url(V2 + "/pubkey/ephemeral/isvalid")), 400, "M_MISSING_PARAMS")
