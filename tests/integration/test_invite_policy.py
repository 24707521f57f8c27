"""it.invite.policy: who may invite whom on store-invite, v2 and v1 alike. Senders on an
agents' platform invite external addresses (unless invites.agents_may_invite_externals is
off); senders on an externals' platform (routing.external_servers, or with that list empty
the servers of entries that require an invitation) may not, unless
invites.externals_may_invite_externals; an address no homeserver takes is refused. A
refusal is 403 M_FORBIDDEN naming the rule, stores nothing, sends nothing, and leaves one
invitation.refused row in the audit log. Daily quotas per sender (50 by default) and per
homeserver: past them 429 M_LIMIT_EXCEEDED with retry_after_ms, nothing stored or mailed,
one invitation.over_quota row; concurrent requests never overshoot."""
import concurrent.futures
import json
from types import SimpleNamespace

import pytest
import requests

import harness
from fake_hs import FakeHomeserver
from harness import assert_matrix_error
from routing_env import Services, homeservers_config, routing_config
from smtp_sink import SmtpSink

V1 = "/_matrix/identity/api/v1"
V2 = "/_matrix/identity/v2"

MAPPING = r"""
medium:
  email:
    patterns:
      - '.*@interieur\.gouv\.fr': {hs: agent.interieur.test}
      - '.*@(gmail|example)\.com': {hs: agent.externe.test, requires_invite: true}
"""
SERVERS = ("agent.interieur.test", "agent.externe.test")
AGENT = "@alice:agent.interieur.test"
EXTERNAL = "@erin:agent.externe.test"
LEGACY = ('legacy:\n  homeservers: {"agent.interieur.test": ["127.0.0.1/32", "::1/128"],'
          ' "agent.externe.test": ["127.0.0.1/32", "::1/128"]}\n')


@pytest.fixture
def make_env(cluster, tmp_path):
    services = Services(cluster)
    path = tmp_path / "info.yaml"
    path.write_text(MAPPING)

    def make(invites="", extra="", external="  external_servers: [agent.externe.test]\n"):
        svc, sink, hs = services.start(lambda hs: homeservers_config(hs, SERVERS) + routing_config(
            path, routing_extra=external,
            extra="ratelimit:\n  enabled: false\n" + LEGACY + "invites:\n  validity: 0\n" + invites + extra),
            threads=4)
        return SimpleNamespace(svc=svc, sink=sink, hs=hs, auth={})

    yield make
    services.close()


def psql(svc, sql):
    return svc.cluster.psql(sql, db=svc.db).strip()


def count(svc, table, where="true"):
    return int(psql(svc, f"SELECT count(*) FROM annuaire.{table} WHERE {where}"))


def audit(svc, action):
    rows = psql(svc, "SELECT actor_kind, actor, outcome, object_id IS NULL, details::text"
                     f" FROM annuaire.audit_log WHERE action = '{action}' ORDER BY id")
    return [r.split("|", 4) for r in rows.splitlines()]


def invite(e, sender, address, version="v2"):
    body = {"medium": "email", "address": address, "room_id": "!room:agent.interieur.test",
            "sender": sender, "room_name": "Salon"}
    if version == "v1":
        return requests.post(e.svc.url(V1 + "/store-invite"), json=body)
    if sender not in e.auth:
        server = sender.split(":", 1)[1]
        e.auth[sender] = {"Authorization": "Bearer " + harness.register(e.svc, e.hs, sender, server=server)}
    return requests.post(e.svc.url(V2 + "/store-invite"), headers=e.auth[sender], json=body)


def assert_refused(e, r, rule, address, homeserver):
    """403 naming the rule; nothing stored or queued; one more invitation.refused row."""
    assert_matrix_error(r, 403, "M_FORBIDDEN")
    if rule != "routing":
        assert rule in r.json()["error"], r.json()
    assert count(e.svc, "invites", f"address = '{address}'") == 0
    assert count(e.svc, "mail_outbox", f"recipient = '{address}'") == 0
    last = audit(e.svc, "invitation.refused")[-1]
    assert last[:4] == ["user", last[1], "refused", "t"]
    assert json.loads(last[4]) == {"rule": rule, "address": address, "homeserver": homeserver}


@pytest.mark.parametrize("version", ["v2", "v1"])
def test_default_policy(make_env, version):
    e = make_env()
    # An agent invites an external, and an agent.
    for address in ("bob@gmail.com", "jean@interieur.gouv.fr"):
        r = invite(e, AGENT, address, version)
        assert r.status_code == 200, r.text
    # A sender on the externals' platform invites an agent, but no external.
    r = invite(e, EXTERNAL, "paul@interieur.gouv.fr", version)
    assert r.status_code == 200, r.text
    r = invite(e, EXTERNAL, "Carol@Example.com", version)
    assert_refused(e, r, "invites.externals_may_invite_externals", "carol@example.com",
                   "agent.externe.test")
    assert "externals' platform" in r.json()["error"]
    # No homeserver takes this address.
    r = invite(e, AGENT, "x@nowhere.test", version)
    assert_refused(e, r, "routing", "x@nowhere.test", "agent.interieur.test")
    assert "no homeserver takes this address" in r.json()["error"].lower()
    assert [a[1] for a in audit(e.svc, "invitation.refused")] == [EXTERNAL, AGENT]
    assert count(e.svc, "invites") == 3
    # Only the three invitations were mailed.
    got = sorted(m[1][0] for m in e.sink.wait(3))
    assert got == ["bob@gmail.com", "jean@interieur.gouv.fr", "paul@interieur.gouv.fr"]
    assert count(e.svc, "mail_outbox") == 3


@pytest.mark.parametrize("version", ["v2", "v1"])
def test_default_external_servers(make_env, version):
    """routing.external_servers empty (the default): the servers of the entries that require
    an invitation are the externals', for the sender as for the address."""
    e = make_env(external="")
    r = invite(e, EXTERNAL, "Carol@Example.com", version)
    assert_refused(e, r, "invites.externals_may_invite_externals", "carol@example.com",
                   "agent.externe.test")
    assert "externals' platform" in r.json()["error"]
    for sender, address in ((EXTERNAL, "paul@interieur.gouv.fr"), (AGENT, "bob@gmail.com")):
        r = invite(e, sender, address, version)
        assert r.status_code == 200, r.text
    assert count(e.svc, "invites") == 2
    got = sorted(m[1][0] for m in e.sink.wait(2))
    assert got == ["bob@gmail.com", "paul@interieur.gouv.fr"]


@pytest.mark.parametrize("version", ["v2", "v1"])
def test_settings_reversed(make_env, version):
    e = make_env("  agents_may_invite_externals: false\n  externals_may_invite_externals: true\n")
    r = invite(e, AGENT, "bob@gmail.com", version)
    assert_refused(e, r, "invites.agents_may_invite_externals", "bob@gmail.com", "agent.interieur.test")
    assert "agents' platform" in r.json()["error"]
    assert invite(e, AGENT, "jean@interieur.gouv.fr", version).status_code == 200
    r = invite(e, EXTERNAL, "carol@example.com", version)
    assert r.status_code == 200, r.text
    assert psql(e.svc, "SELECT sender, sender_server FROM annuaire.invites"
                       " WHERE address = 'carol@example.com'") == f"{EXTERNAL}|agent.externe.test"


def test_sender_quota(make_env):
    e = make_env()  # invites.daily_per_sender: 50 by default
    for i in range(50):
        r = invite(e, AGENT, f"guest{i}@gmail.com", "v1" if i % 2 else "v2")
        assert r.status_code == 200, (i, r.text)
    for version in ("v2", "v1"):
        r = invite(e, AGENT, "late@gmail.com", version)
        assert_matrix_error(r, 429, "M_LIMIT_EXCEEDED")
        assert 0 < r.json()["retry_after_ms"] <= 86400000
        assert "sender" in r.json()["error"]
    assert count(e.svc, "invites") == 50
    assert count(e.svc, "invites", "address = 'late@gmail.com'") == 0
    assert count(e.svc, "mail_outbox", "recipient = 'late@gmail.com'") == 0
    over = audit(e.svc, "invitation.over_quota")
    assert len(over) == 2
    assert over[0][:4] == ["user", AGENT, "refused", "t"]
    assert json.loads(over[0][4]) == {"quota": "invites.daily_per_sender", "limit": 50,
                                      "address": "late@gmail.com", "homeserver": "agent.interieur.test"}
    assert psql(e.svc, "SELECT subject, used, day = (now() AT TIME ZONE 'UTC')::date"
                       " FROM annuaire.invite_quotas") == f"sender:{AGENT}|50|t"
    # Another sender still invites.
    assert invite(e, "@bruno:agent.interieur.test", "late@gmail.com").status_code == 200
    # Every invitation mailed once, none for the refused ones.
    got = [m[1][0] for m in e.sink.wait(51)]
    assert sorted(got) == sorted([f"guest{i}@gmail.com" for i in range(50)] + ["late@gmail.com"])


def test_homeserver_quota(make_env):
    e = make_env("  daily_per_sender: 3\n  daily_per_homeserver: 4\n")
    assert invite(e, AGENT, "a1@gmail.com").status_code == 200
    assert invite(e, AGENT, "a2@gmail.com", "v1").status_code == 200
    assert invite(e, "@bruno:agent.interieur.test", "b1@gmail.com").status_code == 200
    assert invite(e, "@bruno:agent.interieur.test", "b2@gmail.com", "v1").status_code == 200
    # The homeserver's four are taken: Alice's third (within her own quota) is refused, v1 too.
    for version in ("v2", "v1"):
        r = invite(e, AGENT, "a3@gmail.com", version)
        assert_matrix_error(r, 429, "M_LIMIT_EXCEEDED")
        assert "homeserver" in r.json()["error"]
        assert r.json()["retry_after_ms"] > 0
    over = audit(e.svc, "invitation.over_quota")
    assert len(over) == 2
    assert json.loads(over[0][4])["quota"] == "invites.daily_per_homeserver"
    assert json.loads(over[0][4])["limit"] == 4
    # Nothing stored, nothing counted for Alice by the refusals.
    assert count(e.svc, "invites") == 4 and count(e.svc, "mail_outbox") == 4
    assert psql(e.svc, "SELECT subject, used FROM annuaire.invite_quotas ORDER BY subject") == (
        "sender:@alice:agent.interieur.test|2\nsender:@bruno:agent.interieur.test|2\n"
        "server:agent.interieur.test|4")
    # Another homeserver has its own quota.
    assert invite(e, EXTERNAL, "paul@interieur.gouv.fr").status_code == 200


def test_concurrent_requests_do_not_overshoot(make_env):
    e = make_env("  daily_per_sender: 10\n")
    invite(e, AGENT, "warmup@interieur.gouv.fr")  # registers the token first

    def one(i):
        return invite(e, AGENT, f"c{i}@gmail.com").status_code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(one, range(24)))
    assert sorted(statuses) == [200] * 9 + [429] * 15
    assert count(e.svc, "invites") == 10
    assert psql(e.svc, "SELECT used FROM annuaire.invite_quotas") == "10"
    assert len(audit(e.svc, "invitation.over_quota")) == 15


def test_no_routing_no_platform_rules_but_quotas(cluster):
    hs = FakeHomeserver()
    sink = SmtpSink()
    try:
        config = harness.homeserver_config(hs) + "ratelimit:\n  enabled: false\n" \
            "invites:\n  agents_may_invite_externals: false\n  daily_per_sender: 1\n"
        with harness.Service(cluster, config=config, smtp_port=sink.port) as svc:
            e = SimpleNamespace(svc=svc, hs=hs, auth={})
            assert invite(e, "@alice:hs.test", "anyone@nowhere.test").status_code == 200
            assert_matrix_error(invite(e, "@alice:hs.test", "other@nowhere.test"), 429, "M_LIMIT_EXCEEDED")
            assert count(svc, "invites") == 1
    finally:
        sink.stop()
        hs.close()
