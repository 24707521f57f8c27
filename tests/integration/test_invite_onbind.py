"""it.invite.onbind: store-invite (mail, redacted display name, ephemeral key),
sign-ed25519, M_THREEPID_IN_USE; binding the invited address carries the invites and
calls the homeserver back (POST onbind), retried after a failure; once delivered the
invitation is kept, used and delivered (its ephemeral key no longer valid); an invitation
that expired (its expires_at passed) while the session was open is neither carried nor
shown, and stays unused (its ephemeral key invalid, sign-ed25519 refused)."""
import base64
import json
import re
import time
from types import SimpleNamespace

import pytest
import requests

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


@pytest.fixture
def invited(identity):
    """@alice:hs.test has invited Carol@Example.org (not bound yet) to !room:hs.test."""
    svc, sink, hs = identity
    alice = {"Authorization": "Bearer " + harness.register(svc, hs, "@alice:hs.test")}
    r = invite(svc, alice, "Carol@Example.org", **{"org.matrix.web_client_location": "https://app.test"})
    assert r.status_code == 200, r.text
    inv = r.json()
    return SimpleNamespace(svc=svc, sink=sink, hs=hs, alice=alice, inv=inv,
                           eph=inv["public_keys"][1]["public_key"],
                           longterm=requests.get(svc.url(V2 + "/pubkey/ed25519:0")).json()["public_key"])


def ephemeral_valid(svc, key, prefix=V2):
    return requests.get(svc.url(prefix + "/pubkey/ephemeral/isvalid"), params={"public_key": key}).json()


def carol_binds(e):
    """Carol registers, validates her address and binds it; returns the association."""
    carol = {"Authorization": "Bearer " + harness.register(e.svc, e.hs, "@carol:hs.test")}
    sid = validated_session(e.svc, e.sink, carol, "carol@example.org")
    r = requests.post(e.svc.url(V2 + "/3pid/bind"), headers=carol,
                      json={"sid": sid, "client_secret": "sec", "mxid": "@carol:hs.test"})
    assert r.status_code == 200, r.text
    return r.json()


def test_invite_answer_redacts_the_address_and_gives_both_keys(invited):
    inv, svc = invited.inv, invited.svc
    assert inv["display_name"] == "Car...@Exa..."
    assert re.fullmatch(r"[0-9a-zA-Z.=_-]{1,255}", inv["token"])
    assert inv["public_key"] == invited.longterm
    assert inv["public_keys"][0] == {"public_key": invited.longterm,
                                     "key_validity_url": svc.url(V2 + "/pubkey/isvalid")}
    assert inv["public_keys"][1]["key_validity_url"] == svc.url(V2 + "/pubkey/ephemeral/isvalid")


def test_ephemeral_key_valid_while_the_invite_is_pending(invited):
    for prefix in (V1, V2):
        assert ephemeral_valid(invited.svc, invited.eph, prefix) == {"valid": True}
    assert ephemeral_valid(invited.svc, invited.longterm) == {"valid": False}


def test_invite_mail_goes_to_the_stored_address(invited):
    msg = invited.sink.wait(1)[0]
    assert msg[1] == ["carol@example.org"]  # the address the invite is stored under
    assert msg[2]["Subject"] == "Alice Martin vous invite sur Tchap"
    body = msg[2].get_body(("plain",)).get_content()
    assert "Cellule de crise" in body and "https://app.test" in body


def test_sign_ed25519_signs_with_the_key_given(invited):
    # The invited person signs with the ephemeral key (sydent puts it in the mail's variables).
    # Any Ed25519 key works for the mechanics; check the signature with an independent library.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    svc, token = invited.svc, invited.inv["token"]
    priv = Ed25519PrivateKey.generate()
    seed = priv.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                              serialization.NoEncryption())
    r = requests.post(svc.url(V2 + "/sign-ed25519"), headers=invited.alice, json={
        "mxid": "@carol:hs.test", "token": token,
        "private_key": base64.b64encode(seed).decode().rstrip("=")})
    assert r.status_code == 200, r.text
    signed = r.json()
    assert {k: signed[k] for k in ("mxid", "sender", "token")} == {
        "mxid": "@carol:hs.test", "sender": "@alice:hs.test", "token": token}
    canonical = json.dumps({k: signed[k] for k in ("mxid", "sender", "token")}, sort_keys=True,
                           separators=(",", ":")).encode()
    priv.public_key().verify(unb64(signed["signatures"]["is.test"]["ed25519:0"]), canonical)


def test_sign_ed25519_of_an_unknown_token_refused(invited):
    assert_matrix_error(requests.post(invited.svc.url(V2 + "/sign-ed25519"), headers=invited.alice, json={
        "mxid": "@carol:hs.test", "token": "nope", "private_key": base64.b64encode(b"\x01" * 32).decode()}),
        404, "M_UNRECOGNIZED")


def test_bind_carries_the_invite_under_the_association_signature(invited):
    assoc = carol_binds(invited)
    verify_signed(invited.svc, assoc)  # the invites are under the association's signature
    assert len(assoc["invites"]) == 1
    got = assoc["invites"][0]
    assert got["room_id"] == "!room:hs.test" and got["sender"] == "@alice:hs.test"
    assert got["signed"]["token"] == invited.inv["token"] and got["signed"]["mxid"] == "@carol:hs.test"
    verify_signed(invited.svc, got["signed"])


def test_onbind_retried_after_a_failure_then_the_invite_dropped(invited, cluster):
    svc, hs = invited.svc, invited.hs
    hs.onbind_status = [500, 200]  # the first callback fails, the retry succeeds
    assoc = carol_binds(invited)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(hs.onbind) < 2:
        time.sleep(0.05)
    assert [s for s, _ in hs.onbind] == [500, 200]
    assert hs.onbind[-1][1] == assoc
    # Delivered: the ephemeral key is no longer valid; the invitation is kept, used by Carol
    # and delivered.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and ephemeral_valid(svc, invited.eph)["valid"]:
        time.sleep(0.05)
    assert ephemeral_valid(svc, invited.eph) == {"valid": False}
    assert cluster.psql("SELECT state, used_by, delivered_at IS NOT NULL FROM annuaire.invites",
                        db=svc.db).strip() == "used|@carol:hs.test|t"


def test_invite_of_a_bound_address_refused(invited):
    carol_binds(invited)
    # The address is bound now: a new invite says so.
    r = invite(invited.svc, invited.alice, "carol@example.org")
    assert_matrix_error(r, 400, "M_THREEPID_IN_USE")
    assert r.json()["mxid"] == "@carol:hs.test"


@pytest.fixture
def expiring(cluster):
    """invites.validity 3600: @erin:hs.test has a validated session for erin@example.org,
    during which her first invitation expired and a second, fresh one came."""
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
            svc.cluster.psql("UPDATE annuaire.invites SET expires_at = now() - interval '1 hour'"
                             f" WHERE token = '{old.json()['token']}'", db=svc.db)
            fresh = invite(svc, alice, "erin@example.org", room_id="!fresh:hs.test")
            assert fresh.status_code == 200, fresh.text
            yield SimpleNamespace(svc=svc, hs=hs, alice=alice, erin=erin, sid=sid, old=old.json(),
                                  fresh=fresh.json())
    finally:
        sink.stop()
        hs.close()


def test_expired_invite_key_invalid_and_not_signed(expiring):
    svc = expiring.svc
    # The expired one's ephemeral key is no longer valid, and it cannot be signed.
    for inv, valid in ((expiring.old, False), (expiring.fresh, True)):
        assert ephemeral_valid(svc, inv["public_keys"][1]["public_key"]) == {"valid": valid}
    assert_matrix_error(requests.post(svc.url(V2 + "/sign-ed25519"), headers=expiring.alice, json={
        "mxid": "@erin:hs.test", "token": expiring.old["token"],
        "private_key": base64.b64encode(b"\x01" * 32).decode()}), 404, "M_UNRECOGNIZED")


def test_expired_invite_not_carried_and_left_unused(expiring):
    svc, hs = expiring.svc, expiring.hs
    r = requests.post(svc.url(V2 + "/3pid/bind"), headers=expiring.erin,
                      json={"sid": expiring.sid, "client_secret": "sec", "mxid": "@erin:hs.test"})
    assert r.status_code == 200, r.text
    assoc = r.json()
    verify_signed(svc, assoc)
    assert [i["signed"]["token"] for i in assoc["invites"]] == [expiring.fresh["token"]]
    assert assoc["invites"][0]["room_id"] == "!fresh:hs.test"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not hs.onbind:
        time.sleep(0.05)
    assert [i["signed"]["token"] for i in hs.onbind[0][1]["invites"]] == [expiring.fresh["token"]]
    # Delivered: the fresh one is used and delivered; the expired one stays unused.
    harness.wait_until(lambda: svc.cluster.psql(
        "SELECT count(*) FROM annuaire.invites WHERE delivered_at IS NOT NULL", db=svc.db).strip() == "1",
        timeout=5)
    rows = svc.cluster.psql("SELECT token, state, used_by IS NULL, delivered_at IS NULL"
                            " FROM annuaire.invites ORDER BY id", db=svc.db).split()
    assert rows[0] in (expiring.old["token"] + "|pending|t|t", expiring.old["token"] + "|expired|t|t")
    assert rows[1] == expiring.fresh["token"] + "|used|f|f"


def test_only_expired_invites_none_shown_no_callback(cluster):
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
            svc.cluster.psql("UPDATE annuaire.invites SET expires_at = now() - interval '1 second'",
                             db=svc.db)
            r = requests.post(svc.url(V2 + "/3pid/bind"), headers=fred,
                              json={"sid": sid, "client_secret": "sec", "mxid": "@fred:hs.test"})
            assert r.status_code == 200, r.text
            assert "invites" not in r.json()
            assert svc.cluster.psql("SELECT count(*) FROM annuaire.onbind_queue", db=svc.db).strip() == "0"
            assert svc.cluster.psql("SELECT count(*) FROM annuaire.invites WHERE used_by IS NULL",
                                    db=svc.db).strip() == "1"
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
