"""it.admin.invitations: VIP invitations through the admin API, with a routing file, the
test homeserver and the SMTP listener. An invitation is stored for the canonical address
and the homeserver as routed, and its mail (French by default, English on request: who
invites, the note, which server, which address, until when) goes to that address only;
the address is then invited (internal-info), passes the enrollment gate and binds. One
pending VIP invitation per address (409 with its id, no second mail); bound addresses,
bad addresses and bad parameters refused; resend (a second mail; not for revoked or room
invitations); revoke (room and VIP; the gate and internal-info close); the list (filters,
newest first, stable cursor pages; a page among 100,000 rows an index scan without a sort
of the table); every endpoint refused without a token, with a wrong
one and with a token of another scope, with nothing changed; audit rows for each action."""
import concurrent.futures
import datetime
import re

import pytest
import requests

import harness
import ports
from fake_hs import FakeHomeserver
from harness import assert_matrix_error
from routing_env import V1, V2, routing_config, write_mapping
from smtp_sink import SmtpSink
from test_admin_listener import add_token, auth

INV = "/_annuaire/admin/v1/invitations"
FR_MONTHS = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
             "septembre", "octobre", "novembre", "décembre"]


@pytest.fixture(scope="module")
def env(cluster, tmp_path_factory):
    hs = FakeHomeserver()
    sink = SmtpSink()
    iport = ports.reserve()
    path = write_mapping(tmp_path_factory.mktemp("routing"))
    config = routing_config(path, hs=hs, routing_extra=f"  internal_port: {iport}\n",
                            extra="admin:\n  web_client_location: https://app.tchap.test\n")
    try:
        with harness.Service(cluster, admin=True, config=config, smtp_port=sink.port) as svc:
            svc.internal_port = iport
            svc.sink = sink
            svc.hs = hs
            svc.token = add_token(svc, "vip-desk", ["invitations"])
            svc.other = add_token(svc, "sync-bot", ["sync"])
            yield svc
    finally:
        sink.stop()
        hs.close()


def create(svc, token=None, **body):
    return requests.post(svc.admin_url(INV), headers=auth(token or svc.token), json=body,
                         timeout=10)


def one(svc, query):
    return svc.sql(query).strip()


def internal_invited(svc, address):
    r = requests.get(f"http://127.0.0.1:{svc.internal_port}{V1}/internal-info",
                     params={"medium": "email", "address": address}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["invited"]


def mails_to(svc, address):
    return [m for m in svc.sink.messages if m[1] == [address]]


def body_of(msg):
    return msg[2].get_body(("plain",)).get_content()


def expiry_fr(iso):
    t = datetime.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ")
    day = "1er" if t.day == 1 else str(t.day)
    return f"{day} {FR_MONTHS[t.month - 1]} {t.year} à {t.hour:02d}:{t.minute:02d} UTC"


def expiry_en(iso):
    t = datetime.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ")
    return f"{t.day} {t.strftime('%B')} {t.year}, {t.hour:02d}:{t.minute:02d} UTC"


def test_vip_invitation_mail_gate_and_bind(env):
    svc = env
    r = create(svc, address="VIP.Guest@Gmail.COM", inviter="Marie Curie",
               note="Bienvenue dans le groupe de travail")
    assert r.status_code == 200, r.text
    inv = r.json()
    assert {k: inv[k] for k in ("kind", "address", "homeserver", "state", "inviter", "note",
                                "created_by", "mailed_count", "used_at", "used_by",
                                "revoked_at", "revoked_by")} == {
        "kind": "vip", "address": "vip.guest@gmail.com", "homeserver": "agent.externe.test",
        "state": "pending", "inviter": "Marie Curie",
        "note": "Bienvenue dans le groupe de travail", "created_by": "vip-desk",
        "mailed_count": 0, "used_at": None, "used_by": None, "revoked_at": None,
        "revoked_by": None}
    assert re.fullmatch(r"[1-9][0-9]*", inv["id"])
    created = datetime.datetime.strptime(inv["created_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
    expires = datetime.datetime.strptime(inv["expires_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert expires - created == datetime.timedelta(days=30)
    # Stored as a VIP invitation vouched for by an admin, with its audit row.
    assert one(svc, f"SELECT kind, state, verified_by, medium, lang, details->>'homeserver'"
                    f" FROM annuaire.invites WHERE id = {inv['id']}") == \
        "vip|pending|admin|email|fr|agent.externe.test"
    assert one(svc, f"SELECT actor_kind, actor, outcome, details->>'address'"
                    f" FROM annuaire.audit_log WHERE action = 'invitation.created'"
                    f" AND object_kind = 'invitation' AND object_id = '{inv['id']}'") == \
        "admin|vip-desk|ok|vip.guest@gmail.com"
    # The mail, to exactly the canonical address.
    msg = svc.sink.wait_for(lambda m: m["To"] == "vip.guest@gmail.com")
    assert msg[1] == ["vip.guest@gmail.com"]
    assert msg[2]["Subject"] == "Marie Curie vous invite sur Tchap"
    text = body_of(msg)
    for shown in ("Marie Curie", "Bienvenue dans le groupe de travail", "agent.externe.test",
                  "vip.guest@gmail.com", "https://app.tchap.test", expiry_fr(inv["expires_at"])):
        assert shown in text, (shown, text)
    # Once sent, the invitation says so (and the sender wrote invitation.mailed).
    harness.wait_until(lambda: one(svc, f"SELECT mailed_count FROM annuaire.invites"
                                        f" WHERE id = {inv['id']}") == "1")
    got = requests.get(svc.admin_url(f"{INV}/{inv['id']}"), headers=auth(svc.token), timeout=10)
    assert got.status_code == 200, got.text
    assert got.json()["mailed_count"] == 1 and got.json()["last_mailed_at"] is not None
    # Invited for its homeserver: internal-info, then the enrollment gate.
    assert internal_invited(svc, "Vip.Guest@gmail.com") is True
    user = "@vip.guest:agent.externe.test"
    token = harness.register(svc, svc.hs, user, server="agent.externe.test")
    headers = {"Authorization": "Bearer " + token}
    r = requests.post(svc.url(V2 + "/validate/email/requestToken"), headers=headers, json={
        "client_secret": "sec", "email": "vip.guest@gmail.com", "send_attempt": 1}, timeout=10)
    assert r.status_code == 200, r.text
    sid = r.json()["sid"]

    def link_in(m):
        found = re.search(r"https?://\S+submitToken\S+", m.get_body(("plain",)).get_content())
        return found.group(0) if found and f"sid={sid}" in found.group(0) else None

    link = link_in(svc.sink.wait_for(link_in)[2])
    assert requests.get(link, timeout=10).status_code == 200
    r = requests.post(svc.url(V2 + "/3pid/bind"), headers=headers, json={
        "sid": sid, "client_secret": "sec", "mxid": user}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["address"] == "vip.guest@gmail.com" and r.json()["mxid"] == user
    # Used by that binding: no longer pending, internal-info says so, nothing carried to
    # the homeserver (a VIP invitation has no room), its audit row written.
    got = requests.get(svc.admin_url(f"{INV}/{inv['id']}"), headers=auth(svc.token), timeout=10)
    assert got.json()["state"] == "used" and got.json()["used_by"] == user
    assert internal_invited(svc, "vip.guest@gmail.com") is False
    assert "invites" not in r.json() or r.json()["invites"] == []
    assert one(svc, f"SELECT actor_kind, actor FROM annuaire.audit_log WHERE action ="
                    f" 'invitation.used' AND object_id = '{inv['id']}'") == f"user|{user}"
    # Bound now: a new invitation for it is refused, nothing stored, no mail.
    before = one(svc, "SELECT count(*) FROM annuaire.invites")
    assert_matrix_error(create(svc, address="vip.guest@gmail.com"), 400, "M_THREEPID_IN_USE")
    assert one(svc, "SELECT count(*) FROM annuaire.invites") == before


def test_english_mail_and_explicit_expiry(env):
    svc = env
    r = create(svc, address="guest.en@example.org", lang="en", expires_in=12 * 3600)
    assert r.status_code == 200, r.text
    inv = r.json()
    assert inv["inviter"] == "vip-desk"  # the token's name by default
    assert inv["note"] is None
    created = datetime.datetime.strptime(inv["created_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
    expires = datetime.datetime.strptime(inv["expires_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert expires - created == datetime.timedelta(hours=12)
    msg = svc.sink.wait_for(lambda m: m["To"] == "guest.en@example.org")
    assert msg[2]["Subject"] == "vip-desk invites you to Tchap"
    text = body_of(msg)
    assert "agent.externe.test" in text and "guest.en@example.org" in text
    assert f"valid until {expiry_en(inv['expires_at'])}." in text, text


def test_one_pending_vip_invitation_per_address(env):
    svc = env
    r = create(svc, address="twice@example.org")
    assert r.status_code == 200, r.text
    first = r.json()["id"]
    svc.sink.wait_for(lambda m: m["To"] == "twice@example.org")
    r = create(svc, address="Twice@EXAMPLE.org", note="again")
    assert_matrix_error(r, 409, "M_INVITATION_PENDING")
    assert r.json()["id"] == first
    assert one(svc, "SELECT count(*) FROM annuaire.invites WHERE address = 'twice@example.org'") == "1"
    assert one(svc, f"SELECT count(*) FROM annuaire.mail_outbox WHERE invite_id = {first}") == "1"
    # The refusal is in the audit log, naming the pending invitation.
    assert one(svc, "SELECT actor_kind, actor, object_id, outcome, details->>'request',"
                    " details->>'reason', details->>'address' FROM annuaire.audit_log"
                    " WHERE action = 'invitation.refused'"
                    " AND details->>'address' = 'twice@example.org'") == \
        f"admin|vip-desk|{first}|refused|create|pending|twice@example.org"


def test_concurrent_creations_make_one_invitation(env):
    svc = env
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: create(svc, address="race@example.org"), range(4)))
    assert sorted(r.status_code for r in answers) == [200, 409, 409, 409], [r.text for r in answers]
    made = next(r.json()["id"] for r in answers if r.status_code == 200)
    assert {r.json()["id"] for r in answers if r.status_code == 409} == {made}
    assert one(svc, "SELECT count(*) FROM annuaire.invites WHERE address = 'race@example.org'") == "1"
    assert one(svc, "SELECT count(*) FROM annuaire.mail_outbox WHERE recipient = 'race@example.org'") == "1"
    assert one(svc, "SELECT count(*) FROM annuaire.audit_log WHERE action = 'invitation.created'"
                    f" AND object_id = '{made}'") == "1"


@pytest.mark.parametrize("body, errcode", [
    ({"address": "not an address"}, "M_INVALID_EMAIL"),
    ({"address": "a@b@c.test"}, "M_INVALID_EMAIL"),
    ({"note": "x" * 501}, "M_INVALID_PARAM"),
    ({"note": "line one\nline two"}, "M_INVALID_PARAM"),
    ({"inviter": "Eve\r\nBcc: x@evil.test"}, "M_INVALID_PARAM"),
    ({"note": "see {{link}}"}, "M_INVALID_PARAM"),
    ({"inviter": "{{brand}}"}, "M_INVALID_PARAM"),
    ({"lang": "de"}, "M_INVALID_PARAM"),
    ({"expires_in": 0}, "M_INVALID_PARAM"),
    ({"expires_in": 366 * 86400}, "M_INVALID_PARAM"),
    ({"expires_in": "30d"}, "M_INVALID_PARAM"),
    ({"unknown": 1}, None),
    ({"address": None}, "M_MISSING_PARAMS"),
])
def test_bad_requests_store_nothing(env, body, errcode):
    svc = env
    before = (one(svc, "SELECT count(*) FROM annuaire.invites"),
              one(svc, "SELECT count(*) FROM annuaire.mail_outbox"),
              one(svc, "SELECT count(*) FROM annuaire.audit_log"))
    r = create(svc, **{"address": "bad.request@example.org", **body})
    assert r.status_code == 400, r.text
    if errcode is not None:
        assert r.json()["errcode"] == errcode, r.text
    assert (one(svc, "SELECT count(*) FROM annuaire.invites"),
            one(svc, "SELECT count(*) FROM annuaire.mail_outbox"),
            one(svc, "SELECT count(*) FROM annuaire.audit_log")) == before


def test_a_note_of_500_characters_is_taken(env):
    r = create(env, address="long.note@example.org", note="é" * 500)
    assert r.status_code == 200, r.text
    assert r.json()["note"] == "é" * 500


def test_resend(env):
    svc = env
    inv = create(svc, address="resend@example.org").json()
    svc.sink.wait_for(lambda m: m["To"] == "resend@example.org")
    r = requests.post(svc.admin_url(f"{INV}/{inv['id']}/resend"), headers=auth(svc.token),
                      timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == inv["id"]
    harness.wait_until(lambda: len(mails_to(svc, "resend@example.org")) == 2)
    again = mails_to(svc, "resend@example.org")[1]
    assert again[2]["Subject"] == "vip-desk vous invite sur Tchap"
    assert one(svc, f"SELECT actor, outcome FROM annuaire.audit_log WHERE action ="
                    f" 'invitation.resent' AND object_id = '{inv['id']}'") == "vip-desk|ok"
    harness.wait_until(lambda: one(svc, f"SELECT mailed_count FROM annuaire.invites"
                                        f" WHERE id = {inv['id']}") == "2")
    # Revoked: no more resending.
    r = requests.delete(svc.admin_url(f"{INV}/{inv['id']}"), headers=auth(svc.token), timeout=10)
    assert r.status_code == 200, r.text
    r = requests.post(svc.admin_url(f"{INV}/{inv['id']}/resend"), headers=auth(svc.token),
                      timeout=10)
    assert_matrix_error(r, 409, "M_INVITATION_NOT_PENDING")
    assert r.json()["state"] == "revoked"
    assert one(svc, f"SELECT count(*) FROM annuaire.mail_outbox WHERE invite_id = {inv['id']}") == "2"
    for missing in ("999999999", "0", "-1", "abc", "1e3"):
        r = requests.post(svc.admin_url(f"{INV}/{missing}/resend"), headers=auth(svc.token),
                          timeout=10)
        assert_matrix_error(r, 404, "M_NOT_FOUND")


def room_invitation(svc, address):
    """A store-invite from @alice:agent.interieur.test; returns the invitation's id."""
    alice = {"Authorization": "Bearer " + harness.register(svc, svc.hs, "@alice:agent.interieur.test",
                                                             server="agent.interieur.test")}
    r = requests.post(svc.url(V2 + "/store-invite"), headers=alice, json={
        "medium": "email", "address": address, "room_id": "!room:agent.interieur.test",
        "sender": "@alice:agent.interieur.test"}, timeout=10)
    assert r.status_code == 200, r.text
    return one(svc, f"SELECT id FROM annuaire.invites WHERE address = '{address}' AND kind = 'room'")


def test_room_invitations_are_not_resent_but_revoked(env):
    svc = env
    rid = room_invitation(svc, "room.guest@example.org")
    svc.sink.wait_for(lambda m: m["To"] == "room.guest@example.org")
    r = requests.post(svc.admin_url(f"{INV}/{rid}/resend"), headers=auth(svc.token), timeout=10)
    assert_matrix_error(r, 409, "M_INVITATION_NOT_RESENDABLE")
    assert "one-time key" in r.json()["error"]
    assert one(svc, "SELECT outcome, details->>'request', details->>'reason' FROM"
                    f" annuaire.audit_log WHERE action = 'invitation.refused'"
                    f" AND object_id = '{rid}'") == "refused|resend|room"
    assert one(svc, "SELECT count(*) FROM annuaire.mail_outbox"
                    " WHERE recipient = 'room.guest@example.org'") == "1"
    got = requests.get(svc.admin_url(f"{INV}/{rid}"), headers=auth(svc.token), timeout=10).json()
    assert got["kind"] == "room" and got["sender"] == "@alice:agent.interieur.test"
    assert got["homeserver"] == "agent.interieur.test"
    r = requests.delete(svc.admin_url(f"{INV}/{rid}"), headers=auth(svc.token), timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "revoked" and r.json()["revoked_by"] == "vip-desk"


def test_revoke_closes_the_gate(env):
    svc = env
    inv = create(svc, address="revoked.guest@example.org").json()
    assert internal_invited(svc, "revoked.guest@example.org") is True
    r = requests.delete(svc.admin_url(f"{INV}/{inv['id']}"), headers=auth(svc.token), timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "revoked" and r.json()["revoked_by"] == "vip-desk"
    assert r.json()["revoked_at"] is not None
    assert one(svc, f"SELECT state, revoked_by, revoked_at IS NOT NULL FROM annuaire.invites"
                    f" WHERE id = {inv['id']}") == "revoked|vip-desk|t"
    assert one(svc, f"SELECT actor_kind, actor FROM annuaire.audit_log WHERE action ="
                    f" 'invitation.revoked' AND object_id = '{inv['id']}'") == "admin|vip-desk"
    assert internal_invited(svc, "revoked.guest@example.org") is False
    token = harness.register(svc, svc.hs, "@rg:agent.externe.test", server="agent.externe.test")
    r = requests.post(svc.url(V2 + "/validate/email/requestToken"),
                      headers={"Authorization": "Bearer " + token}, json={
                          "client_secret": "sec", "email": "revoked.guest@example.org",
                          "send_attempt": 1}, timeout=10)
    assert_matrix_error(r, 403, "M_FORBIDDEN")
    # Not pending any more: 409 with its state, nothing changed; the refusal is audited.
    audit = one(svc, "SELECT count(*) FROM annuaire.audit_log")
    r = requests.delete(svc.admin_url(f"{INV}/{inv['id']}"), headers=auth(svc.token), timeout=10)
    assert_matrix_error(r, 409, "M_INVITATION_NOT_PENDING")
    assert r.json()["state"] == "revoked"
    assert int(one(svc, "SELECT count(*) FROM annuaire.audit_log")) == int(audit) + 1
    assert one(svc, "SELECT actor, outcome, details->>'request', details->>'reason',"
                    " details->>'state' FROM annuaire.audit_log WHERE action ="
                    f" 'invitation.refused' AND object_id = '{inv['id']}'") == \
        "vip-desk|refused|revoke|not_pending|revoked"
    # Revoked, a new invitation may be made for the address.
    assert create(svc, address="revoked.guest@example.org").status_code == 200


def listing(svc, **params):
    r = requests.get(svc.admin_url(INV), headers=auth(svc.token), params=params, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def test_list_filters_and_pages(env):
    svc = env
    svc.sql("INSERT INTO annuaire.invites (token, medium, address, kind, state, verified_by,"
            " expires_at, inviter, created_by, lang)"
            " SELECT 'list-' || i, 'email', 'lister' || (i % 3) || '@example.org', 'vip',"
            " CASE WHEN i % 4 = 0 THEN 'revoked' ELSE 'pending' END, 'admin',"
            " CASE WHEN i = 5 THEN now() - interval '1 hour' ELSE now() + interval '1 day' END,"
            " 'x', 'seed', 'fr' FROM generate_series(1, 11) AS i")
    ids = svc.sql("SELECT id FROM annuaire.invites ORDER BY id DESC").split()
    # Pages of 4, newest first, each once, the cursor stable while rows are added.
    seen, page = [], listing(svc, limit=4)
    while True:
        seen += [i["id"] for i in page["invitations"]]
        assert len(page["invitations"]) <= 4
        if "next" not in page:
            break
        page = listing(svc, limit=4, **{"from": page["next"]})
        if len(seen) == 4:  # a newer row does not shift the pages after the first
            assert create(svc, address="late@example.org").status_code == 200
    assert seen == ids
    everything = listing(svc, limit=500)
    assert "next" not in everything and len(everything["invitations"]) == len(ids) + 1
    # Filters.
    by_address = listing(svc, address="LISTER1@Example.ORG")["invitations"]
    assert {i["address"] for i in by_address} == {"lister1@example.org"}
    assert len(by_address) == 4
    assert [i["id"] for i in by_address] == sorted((i["id"] for i in by_address), key=int,
                                                   reverse=True)
    revoked = listing(svc, state="revoked", limit=500)["invitations"]
    assert revoked and all(i["state"] == "revoked" for i in revoked)
    expired = listing(svc, state="expired")["invitations"]
    assert [i["address"] for i in expired] == ["lister2@example.org"]
    assert one(svc, f"SELECT state FROM annuaire.invites WHERE id = {expired[0]['id']}") == "pending"
    pending = listing(svc, state="pending", limit=500)["invitations"]
    assert all(i["state"] == "pending" for i in pending)
    assert expired[0]["id"] not in {i["id"] for i in pending}
    assert listing(svc, kind="room", address="lister0@example.org")["invitations"] == []
    assert len(listing(svc, kind="vip", address="lister0@example.org", state="pending")[
        "invitations"]) == 3
    # Bad parameters.
    for params in ({"limit": "0"}, {"limit": "501"}, {"limit": "x"}, {"limit": " 5"},
                   {"limit": "+5"}, {"from": "abc"}, {"from": "-3"}, {"state": "done"},
                   {"kind": "all"}):
        r = requests.get(svc.admin_url(INV), headers=auth(svc.token), params=params, timeout=10)
        assert_matrix_error(r, 400, "M_INVALID_PARAM")
    r = requests.get(svc.admin_url(INV), headers=auth(svc.token), params={"address": "nope"},
                     timeout=10)
    assert_matrix_error(r, 400, "M_INVALID_EMAIL")
    r = requests.get(svc.admin_url(f"{INV}/999999999"), headers=auth(svc.token), timeout=10)
    assert_matrix_error(r, 404, "M_NOT_FOUND")


def state_of(svc):
    return tuple(one(svc, q) for q in (
        "SELECT count(*) FROM annuaire.invites",
        "SELECT count(*) FROM annuaire.invites WHERE state = 'revoked'",
        "SELECT count(*) FROM annuaire.mail_outbox",
        "SELECT count(*) FROM annuaire.audit_log WHERE action <> 'admin.denied'"))


@pytest.mark.parametrize("method, path, body", [
    ("POST", INV, {"address": "denied@example.org"}),
    ("GET", INV, None),
    ("GET", INV + "/{id}", None),
    ("POST", INV + "/{id}/resend", None),
    ("DELETE", INV + "/{id}", None),
])
def test_refused_without_the_right_token(env, method, path, body):
    svc = env
    inv = create(svc, address=f"target.{method.lower()}.{len(path)}@example.org").json()
    url = svc.admin_url(path.format(id=inv["id"]))
    svc.sink.wait_for(lambda m: m["To"] == inv["address"])
    before, mails = state_of(svc), len(svc.sink.messages)
    for headers in ({}, auth("wrong-token"), auth(svc.token + "x")):
        r = requests.request(method, url, headers=headers, json=body, timeout=10)
        assert_matrix_error(r, 401, "M_UNAUTHORIZED")
    denied = one(svc, "SELECT count(*) FROM annuaire.audit_log WHERE action = 'admin.denied'")
    r = requests.request(method, url, headers=auth(svc.other), json=body, timeout=10)
    assert_matrix_error(r, 403, "M_FORBIDDEN")
    assert int(one(svc, "SELECT count(*) FROM annuaire.audit_log WHERE action = 'admin.denied'")) \
        == int(denied) + 1
    assert one(svc, "SELECT actor, outcome, details->>'scope' FROM annuaire.audit_log"
                    " WHERE action = 'admin.denied' ORDER BY id DESC LIMIT 1") == \
        "sync-bot|refused|invitations"
    assert state_of(svc) == before
    assert len(svc.sink.messages) == mails


def test_a_page_among_100000_is_an_index_scan(cluster):
    """The plans PostgreSQL runs for the list's pages (auto_explain, as notices in the
    service's log): an index scan newest first, never a sort of the table."""
    svc = harness.Service(cluster, admin=True)
    svc.sql("INSERT INTO annuaire.invites (token, medium, address, kind, state, verified_by,"
            " expires_at, inviter, created_by, lang)"
            " SELECT 'bulk-' || i, 'email', 'u' || (i % 5000) || '@example.org', 'vip',"
            " (ARRAY['pending', 'used', 'revoked', 'expired'])[1 + i % 4], 'admin',"
            " now() + interval '1 day', 'x', 'seed', 'fr' FROM generate_series(1, 100000) AS i",
            "ANALYZE annuaire.invites")
    for setting in ("session_preload_libraries = 'auto_explain'",
                    "auto_explain.log_min_duration = 0", "auto_explain.log_level = 'notice'"):
        svc.sql(f"ALTER DATABASE {svc.db} SET {setting}")
    with svc:
        token = add_token(svc, "bench", ["invitations"])
        queries = [{}, {"state": "pending"}, {"state": "used", "kind": "vip"},
                   {"state": "expired"}, {"address": "u42@example.org"}]
        for params in queries:
            first = requests.get(svc.admin_url(INV), headers=auth(token),
                                 params={"limit": 50, **params}, timeout=10).json()
            assert len(first["invitations"]) == 50 or "address" in params
            if "next" in first:  # a page deep in the list too
                r = requests.get(svc.admin_url(INV), headers=auth(token),
                                 params={"limit": 50, "from": first["next"], **params}, timeout=10)
                assert r.status_code == 200, r.text
        plans = [p for p in svc.read_log().split("Query Text: ")[1:]
                 if p.startswith("SELECT id::text AS id") and "LIMIT $5" in p]
    assert len(plans) >= 2 * len(queries) - 1, svc.read_log()[-3000:]
    for plan in plans:
        text = plan.split("\n", 1)[1]
        if "WHERE address = $3" in plan.split("\n", 1)[0]:
            assert "invites_address_list_idx" in text, text  # the rows of one address only
        else:
            assert "Index Scan Backward" in text and "Sort" not in text, text
