"""it.invite.closed: what closes an invitation besides its state. A room invitation whose
onbind callback the homeserver refused (403) has its ephemeral key closed: it was valid
only until that callback was answered. A revoked or expired invitation's mails still
queued are withdrawn: none reaches the mailbox once it no longer opens anything.
Concurrent invitations of one homeserver under its daily quota are all stored (the
counter row queues them, never fails them); refusals by policy are rate-limited like the
invitations they refuse."""
import concurrent.futures

import requests

import harness
import ports
from harness import assert_matrix_error
from routing_env import V1, V2, Services, homeservers_config, routing_config, write_mapping
from smtp_sink import SmtpSink
from test_admin_listener import add_token, auth
from test_invite_lifecycle import AGENT, auth_for, bob_binds, make_env, psql, store_invite  # noqa: F401

API = "/_annuaire/admin/v1"


def test_refused_callback_closes_the_ephemeral_key(make_env):  # noqa: F811
    e = make_env("invites:\n  validity: 86400\n")
    e.hs.onbind_status = [403]
    alice = auth_for(e.svc, e.hs, AGENT)
    r = store_invite(e, alice)
    assert r.status_code == 200, r.text
    token, eph = r.json()["token"], r.json()["public_keys"][1]["public_key"]
    bob_binds(e)
    harness.wait_until(lambda: psql(e.svc, "SELECT gave_up_at IS NOT NULL"
                                           " FROM annuaire.onbind_queue") == "t", 20)
    assert psql(e.svc, "SELECT state, delivered_at IS NULL, callback_refused_at IS NOT NULL"
                       " FROM annuaire.invites") == "used|t|t"
    r = requests.get(e.svc.url(V2 + "/pubkey/ephemeral/isvalid"), params={"public_key": eph})
    assert r.json() == {"valid": False}
    r = requests.post(e.svc.url(V2 + "/sign-ed25519"), headers=alice, json={
        "mxid": "@mallory:agent.externe.test", "token": token,
        "private_key": "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE"})
    assert_matrix_error(r, 404, "M_UNRECOGNIZED")


def queued(svc, iid):
    return int(psql(svc, "SELECT count(*) FROM annuaire.mail_outbox"
                         f" WHERE invite_id = {iid} AND sent_at IS NULL"))


def test_revoked_or_expired_invitation_withdraws_its_queued_mails(cluster, tmp_path):
    relay = ports.reserve()  # nothing listens there yet: the mails wait in the outbox
    path = write_mapping(tmp_path)
    with harness.Service(cluster, admin=True, smtp_port=relay, mail_retry_delay=3600,
                         config=routing_config(path)) as svc:
        a = auth(add_token(svc, "desk", ["invitations"]))
        revoked = requests.post(svc.admin_url(API + "/invitations"), headers=a,
                                json={"address": "revoked@example.org"}).json()["id"]
        for _ in range(2):
            r = requests.post(svc.admin_url(f"{API}/invitations/{revoked}/resend"), headers=a)
            assert r.status_code == 200, r.text
        expired = requests.post(svc.admin_url(API + "/invitations"), headers=a,
                                json={"address": "expired@example.org"}).json()["id"]
        # Each mail tried once and failed (the relay is down), none being sent now.
        harness.wait_until(lambda: psql(
            svc, "SELECT count(*) FROM annuaire.mail_outbox WHERE failures > 0"
                 " AND claimed_until IS NULL AND sent_at IS NULL") == "4", 30)
        assert queued(svc, revoked) == 3 and queued(svc, expired) == 1

        assert requests.delete(svc.admin_url(f"{API}/invitations/{revoked}"),
                               headers=a).status_code == 200
        assert queued(svc, revoked) == 0
        svc.sql(f"UPDATE annuaire.invites SET expires_at = now() - interval '1 second'"
                f" WHERE id = {expired}", "NOTIFY annuaire_invites")
        harness.wait_until(lambda: psql(svc, "SELECT state FROM annuaire.invites"
                                             f" WHERE id = {expired}") == "expired", 30)
        assert queued(svc, expired) == 0

        # The relay comes back: a new invitation's mail arrives, the withdrawn ones never.
        sink = SmtpSink(port=relay)
        try:
            r = requests.post(svc.admin_url(API + "/invitations"), headers=a,
                              json={"address": "later@example.org"})
            assert r.status_code == 200, r.text
            got = sink.wait(1, timeout=30)
            assert [m[1] for m in got] == [["later@example.org"]]
        finally:
            sink.stop()
        assert psql(svc, "SELECT mailed_count FROM annuaire.invites"
                         f" WHERE id IN ({revoked}, {expired}) ORDER BY id") == "0\n0"


def test_concurrent_invitations_of_one_homeserver_are_all_stored(make_env):  # noqa: F811
    e = make_env("ratelimit:\n  enabled: false\n"
                 "invites:\n  daily_per_homeserver: 10000\n  daily_per_sender: 1000\n")
    senders = [auth_for(e.svc, e.hs, f"@agent{i}:agent.interieur.test") for i in range(8)]

    def invite(i):
        return store_invite(e, senders[i % 8], address=f"partner{i}@gmail.com",
                            sender=f"@agent{i % 8}:agent.interieur.test").status_code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(invite, range(240)))
    assert statuses == [200] * 240
    assert psql(e.svc, "SELECT used FROM annuaire.invite_quotas"
                       " WHERE subject = 'server:agent.interieur.test'") == "240"
    assert psql(e.svc, "SELECT count(*) FROM annuaire.invites") == "240"


def test_refusals_by_policy_are_rate_limited(cluster, tmp_path):
    services = Services(cluster)
    try:
        svc, sink, hs = services.start(lambda hs: homeservers_config(hs) + routing_config(
            write_mapping(tmp_path), routing_extra="  external_servers: [agent.externe.test]\n",
            extra="ratelimit:\n  request_token_user_burst: 3\n"
                  "  request_token_user_interval_ms: 86400000\n"))
        erin = "@erin:agent.externe.test"  # on the externals' platform: may not invite externals
        a = auth_for(svc, hs, erin)
        statuses = [requests.post(svc.url(V2 + "/store-invite"), headers=a, json={
            "medium": "email", "address": f"f{i}@gmail.com", "room_id": "!r:agent.externe.test",
            "sender": erin}).status_code for i in range(12)]
        assert statuses == [403] * 3 + [429] * 9
        assert psql(svc, "SELECT count(*) FROM annuaire.audit_log"
                         " WHERE action = 'invitation.refused'") == "3"
        assert psql(svc, "SELECT count(*) FROM annuaire.invites") == "0"
    finally:
        services.close()
