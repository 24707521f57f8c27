"""it.validation.canonical: one canonical form of an e-mail address over HTTP. An address
whose folding maps a non-ASCII character onto ASCII (U+0130, the Kelvin sign, fullwidth
letters, ſ) or that hides an invisible character is refused with 400 M_INVALID_EMAIL and
gets no session and no mail; an internationalised address is mailed at its A-label form,
and its session, binding, lookup hash and invitations are for that same form; the
per-address rate limit gives no new budget to spellings of one address."""
import base64
import hashlib

import pytest
import requests

import harness
import ports
from fake_hs import FakeHomeserver
from harness import assert_matrix_error
from smtp_sink import SmtpSink
from test_bind_lookup import validated_session, verify_signed

V1 = "/_matrix/identity/api/v1"
V2 = "/_matrix/identity/v2"

# Each would have been folded (towlower) onto the ASCII address beside it.
TAKEOVERS = [
    ("bob@gma\u0130l.com", "bob@gmail.com"),        # LATIN CAPITAL LETTER I WITH DOT ABOVE
    ("\u212Aate@gmail.com", "kate@gmail.com"),      # KELVIN SIGN in the local part
    ("bob@\u212Aeybase.io", "bob@keybase.io"),      # KELVIN SIGN in the domain
    ("bob@\uff47\uff4d\uff41\uff49\uff4c.com", "bob@gmail.com"),  # fullwidth letters
    ("\u017Fam@gmail.com", "sam@gmail.com"),        # LATIN SMALL LETTER LONG S
    ("\u0130rem@gmail.com", "irem@gmail.com"),
    ("bob@gma\u00adil.com", "bob@gmail.com"),       # SOFT HYPHEN
    ("bob@gmail\u200b.com", "bob@gmail.com"),       # ZERO WIDTH SPACE
    ("b\u200dob@gmail.com", "bob@gmail.com"),       # ZERO WIDTH JOINER
    ("bob@gma\u0131l.com", None),                  # dotless i: another domain, kept apart
]


def request_token(svc, auth, email, secret="s3cret", attempt=1):
    return requests.post(svc.url(V2 + "/validate/email/requestToken"), headers=auth,
                         json={"client_secret": secret, "email": email, "send_attempt": attempt})


def lookup_hash(address, pepper):
    d = hashlib.sha256(f"{address} email {pepper}".encode()).digest()
    return base64.urlsafe_b64encode(d).decode().rstrip("=")


def count(cluster, svc, sql):
    return int(cluster.psql(sql, db=svc.db).strip())


@pytest.fixture
def env(identity):
    svc, sink, hs = identity
    return svc, sink, hs, {"Authorization": "Bearer " + harness.register(svc, hs, "@alice:hs.test")}


def test_folding_onto_ascii_refused(env, cluster):
    svc, sink, hs, auth = env
    for typed, victim in TAKEOVERS:
        r = request_token(svc, auth, typed)
        if victim is not None:
            assert_matrix_error(r, 400, "M_INVALID_EMAIL")
        else:
            assert r.status_code == 200, r.text
    # Dotless i is an ordinary non-ASCII letter: its own address, in its own A-label form.
    assert cluster.psql("SELECT address FROM annuaire.validation_sessions", db=svc.db).split() == [
        "bob@xn--gmal-nza.com"]
    assert count(cluster, svc, "SELECT count(*) FROM annuaire.validation_sessions"
                               " WHERE address ~ '^[a-z]+@[a-z]+\\.[a-z]+$'") == 0
    msgs = sink.wait(1)
    assert [m[1] for m in msgs] == [["bob@xn--gmal-nza.com"]]
    # Nothing for any of the others, neither queued nor sent.
    assert count(cluster, svc, "SELECT count(*) FROM annuaire.mail_outbox") == 1
    # store-invite applies the same rule.
    for typed, victim in TAKEOVERS:
        if victim is None:
            continue
        r = requests.post(svc.url(V2 + "/store-invite"), headers=auth, json={
            "medium": "email", "address": typed, "room_id": "!r:hs.test", "sender": "@alice:hs.test"})
        assert_matrix_error(r, 400, "M_INVALID_EMAIL")
    assert count(cluster, svc, "SELECT count(*) FROM annuaire.invites") == 0
    assert count(cluster, svc, "SELECT count(*) FROM annuaire.mail_outbox") == 1


def test_idn_address_one_form(env, cluster):
    svc, sink, hs, auth = env
    ascii_form = "bob@xn--bcher-kva.test"
    # An invitation first, typed with the upper-case U-label: stored and mailed at the A-label.
    carol = {"Authorization": "Bearer " + harness.register(svc, hs, "@carol:hs.test")}
    r = requests.post(svc.url(V2 + "/store-invite"), headers=carol, json={
        "medium": "email", "address": "Bob@B\u00dcCHER.test", "room_id": "!r:hs.test",
        "sender": "@carol:hs.test"})
    assert r.status_code == 200, r.text
    invite_mail = sink.wait(1)[0]
    assert invite_mail[1] == [ascii_form]
    assert invite_mail[2]["To"] == ascii_form
    assert cluster.psql("SELECT address FROM annuaire.invites", db=svc.db).strip() == ascii_form

    # Validation typed with the U-label: the mail goes to the A-label, the session is for it.
    bob = {"Authorization": "Bearer " + harness.register(svc, hs, "@bob:hs.test")}
    sid = validated_session(svc, sink, bob, "Bob@B\u00fccher.test")
    verification = [m for m in sink.messages if m[2]["Subject"].startswith("Tchap :")]
    assert [m[1] for m in verification] == [[ascii_form]]
    assert verification[0][2]["To"] == ascii_form
    got = requests.get(svc.url(V2 + "/3pid/getValidated3pid"), headers=bob,
                       params={"sid": sid, "client_secret": "sec"}).json()
    assert got["address"] == ascii_form
    # The same client secret with the A-label spelling is the same session.
    assert request_token(svc, bob, "BOB@XN--BCHER-KVA.TEST", secret="sec").json()["sid"] == sid

    r = requests.post(svc.url(V2 + "/3pid/bind"), headers=bob,
                      json={"sid": sid, "client_secret": "sec", "mxid": "@bob:hs.test"})
    assert r.status_code == 200, r.text
    assoc = r.json()
    assert assoc["address"] == ascii_form
    assert [i["sender"] for i in assoc["invites"]] == ["@carol:hs.test"]  # the invite follows
    verify_signed(svc, assoc)

    pepper = requests.get(svc.url(V2 + "/hash_details"), headers=bob).json()["lookup_pepper"]
    h = lookup_hash(ascii_form, pepper)
    unicode_h = lookup_hash("bob@b\u00fccher.test", pepper)
    r = requests.post(svc.url(V2 + "/lookup"), headers=bob,
                      json={"algorithm": "sha256", "pepper": pepper, "addresses": [h, unicode_h]})
    assert r.json() == {"mappings": {h: "@bob:hs.test"}}  # the hash is of the canonical form
    plain = ["bob@b\u00fccher.test email", "BOB@xn--bcher-kva.test email",
             "bob@gma\u0130l.com email"]
    r = requests.post(svc.url(V2 + "/lookup"), headers=bob,
                      json={"algorithm": "none", "pepper": pepper, "addresses": plain})
    assert r.json() == {"mappings": {plain[0]: "@bob:hs.test", plain[1]: "@bob:hs.test"}}
    r = requests.get(svc.url(V1 + "/lookup"), params={"medium": "email", "address": "bob@B\u00dcCHER.test"})
    assert r.json()["mxid"] == "@bob:hs.test" and r.json()["address"] == ascii_form
    r = requests.post(svc.url(V1 + "/bulk_lookup"), json={"threepids": [
        ["email", "bob@b\u00fccher.test"], ["email", "bob@b\u00fc\u200bcher.test"]]})
    assert r.json() == {"threepids": [["email", "bob@b\u00fccher.test", "@bob:hs.test"]]}
    # Unbind by the session, named with the U-label.
    r = requests.post(svc.url(V2 + "/3pid/unbind"), json={
        "mxid": "@bob:hs.test", "threepid": {"medium": "email", "address": "bob@b\u00fccher.test"},
        "sid": sid, "client_secret": "sec"})
    assert r.status_code == 200, r.text
    assert count(cluster, svc, "SELECT count(*) FROM annuaire.associations") == 0


LIMITS = """ratelimit:
  request_token_address_burst: 2
  request_token_user_burst: 100
  request_token_ip_burst: 100
"""


def test_rate_limit_counts_one_address(cluster):
    hs = FakeHomeserver()
    sink = SmtpSink()
    try:
        with harness.Service(cluster, config=harness.homeserver_config(hs) + LIMITS,
                             smtp_port=sink.port) as svc:
            auth = {"Authorization": "Bearer " + harness.register(svc, hs, "@a:hs.test")}
            assert request_token(svc, auth, "v@interieur.gouv.fr", secret="s1").status_code == 200
            assert request_token(svc, auth, "v@interieur.gouv.fr", secret="s2").status_code == 200
            # The address's budget is spent: no spelling of it opens a new one.
            for i, typed in enumerate(["v@interieur\u200b.gouv.fr", "v@\uff49nterieur.gouv.fr",
                                       "v@inte\u00adrieur.gouv.fr", "\u200bv@interieur.gouv.fr",
                                       "V@INTERIEUR.GOUV.FR", "v@interieur.gouv.fr\u200d"]):
                r = request_token(svc, auth, typed, secret=f"x{i}")
                assert r.status_code in (400, 429), (typed, r.status_code, r.text)
                assert r.json()["errcode"] in ("M_INVALID_EMAIL", "M_LIMIT_EXCEEDED")
            assert_matrix_error(request_token(svc, auth, "V@Interieur.Gouv.FR", secret="y"), 429,
                                "M_LIMIT_EXCEEDED")
            # An internationalised domain: the U-label and the A-label share one budget.
            assert request_token(svc, auth, "w@b\u00fccher.test", secret="s1").status_code == 200
            assert request_token(svc, auth, "W@B\u00dcCHER.test", secret="s2").status_code == 200
            assert_matrix_error(request_token(svc, auth, "w@xn--bcher-kva.test", secret="s3"), 429,
                                "M_LIMIT_EXCEEDED")
            assert int(cluster.psql("SELECT count(*) FROM annuaire.mail_outbox", db=svc.db)) == 4
            assert sorted(m[1][0] for m in sink.wait(4)) == [
                "v@interieur.gouv.fr", "v@interieur.gouv.fr", "w@xn--bcher-kva.test",
                "w@xn--bcher-kva.test"]
    finally:
        sink.stop()
        hs.close()


def test_routing_gate_and_internal_info_one_form(cluster, tmp_path):
    """Routing, the enrollment gate and internal-info see the form invitations are stored
    under: an invitation typed with the U-label opens the gate for the A-label spelling,
    and internal-info says invited for any spelling of it, for no look-alike."""
    from routing_env import routing_config, write_mapping

    hs = FakeHomeserver()
    internal_port = ports.reserve()
    sink = SmtpSink()
    config = routing_config(write_mapping(tmp_path), hs=hs,
                            routing_extra=f"  internal_port: {internal_port}\n")
    try:
        with harness.Service(cluster, config=config, smtp_port=sink.port) as svc:
            def internal(address):
                return requests.get(f"http://127.0.0.1:{internal_port}{V1}/internal-info",
                                    params={"medium": "email", "address": address}).json()

            def info(address):
                return requests.get(svc.url(V1 + "/info"),
                                    params={"medium": "email", "address": address}).json()

            # The inviter is a user of a homeserver the routing knows.
            alice = {"Authorization": "Bearer " + harness.register(
                svc, hs, "@alice:agent.interieur.test", server="agent.interieur.test")}
            # The externals' catch-all asks for an invitation: none yet, no mail.
            assert_matrix_error(request_token(svc, alice, "bob@xn--bcher-kva.test"), 403, "M_FORBIDDEN")
            r = requests.post(svc.url(V2 + "/store-invite"), headers=alice, json={
                "medium": "email", "address": "Bob@B\u00dcCHER.test", "room_id": "!r:hs.test",
                "sender": "@alice:agent.interieur.test"})
            assert r.status_code == 200, r.text
            assert request_token(svc, alice, "bob@xn--bcher-kva.test").status_code == 200
            for spelling in ("bob@b\u00fccher.test", "BOB@XN--BCHER-KVA.TEST"):
                assert internal(spelling)["invited"] is True, spelling
            assert internal("bob@bu\u0308cher.test")["invited"] is False  # not NFC: no address
            # An invitation for bob@gmail.com is not one for a look-alike.
            svc.cluster.psql("INSERT INTO annuaire.invites (token, medium, address, room_id, sender,"
                             " ephemeral_public_key, verified_by) VALUES ('t1', 'email', 'bob@gmail.com',"
                             " '!r:hs.test', '@alice:agent.interieur.test', 'k1', 'token')", db=svc.db)
            assert internal("Bob@Gmail.com")["invited"] is True
            for look_alike in ("bob@gma\u0130l.com", "bob@\uff47mail.com", "bob@gma\u00adil.com"):
                assert internal(look_alike)["invited"] is False, look_alike
                assert_matrix_error(request_token(svc, alice, look_alike), 400, "M_INVALID_EMAIL")
            # An internationalised domain is routed by its A-label, however it is typed.
            for spelling in ("jean@int\u00e9rieur.test", "Jean@INT\u00c9RIEUR.test",
                             "jean@xn--intrieur-d1a.test"):
                assert info(spelling)["hs"] == "agent.interieur.test", spelling
            assert [m[1] for m in sink.wait(2)] == [["bob@xn--bcher-kva.test"]] * 2
    finally:
        sink.stop()
        hs.close()
