"""it.leavers.api: after real LDIF sync runs, GET /_annuaire/internal/v1/leavers (internal
listener only) lists the Matrix IDs bound to addresses whose owner was removed (reason
removed) or disabled (reason disabled), oldest first, with a cursor that pages; not an
unbound agent, not one whose address another source's live entry still holds; a bad
cursor or limit is 400 M_INVALID_PARAM; `annuaire leavers` prints the same (lines, --json).
Nothing is deleted: the associations stay."""
import json
import re

import pytest
import requests

import harness
import ports
from fake_hs import FakeHomeserver
from harness import assert_matrix_error
from routing_env import V2, routing_config, write_mapping
from smtp_sink import SmtpSink

LEAVERS = "/_annuaire/internal/v1/leavers"
HS = "agent.agri.test"
MAPPING = "medium:\n  email:\n    patterns:\n      - '.*@agri\\.gouv\\.fr': {hs: agent.agri.test}\n"


def entry(uid, n, mails, extra=""):
    lines = [f"dn: uid={uid},ou=people,dc=agri,dc=gouv,dc=fr", "objectClass: inetOrgPerson",
             f"uid: {uid}", f"cn: Agent {uid}", f"sn: {uid}",
             f"entryUUID: 2b000000-0000-4000-8000-{n:012d}"]
    return "\n".join(lines + [f"mail: {m}" for m in mails]) + ("\n" + extra if extra else "") + "\n\n"


# agri's agents; the mover's address is also in culture's export, which stays.
AGENTS = {"gone": 1, "quit": 2, "idle": 3, "mover": 4, "stay": 5, "late": 6}


def agri_ldif(path, absent=(), disabled=()):
    text = "version: 1\n\n"
    for uid, n in AGENTS.items():
        if uid not in absent:
            uac = "userAccountControl: 514" if uid in disabled else "userAccountControl: 512"
            text += entry(uid, n, [f"{uid}@agri.gouv.fr"], uac)
    path.write_text(text)


def source(name, path, priority, extra=""):
    return (f"    - name: {name}\n      ministry: \"Ministère {name}\"\n      priority: {priority}\n"
            f"      ldif: {path}\n" + extra)


@pytest.fixture
def env(cluster, tmp_path):
    hs = FakeHomeserver()
    sink = SmtpSink()
    iport = ports.reserve()
    agri = tmp_path / "agri.ldif"
    culture = tmp_path / "culture.ldif"
    agri_ldif(agri)
    culture.write_text("version: 1\n\n" + entry("mover", 99, ["mover@agri.gouv.fr"]))
    sync = ("sync:\n  removal_grace_runs: 0\n  removal_grace_seconds: 0\n  sources:\n"
            + source("agri", agri, 10, "      attributes:\n        disabled: userAccountControl\n")
            + source("culture", culture, 20))
    config = (harness.homeserver_config(hs, HS) + routing_config(write_mapping(tmp_path, MAPPING),
              routing_extra=f"  internal_port: {iport}\n") + sync)
    try:
        with harness.Service(cluster, config=config, smtp_port=sink.port) as svc:
            svc.internal_port = iport
            svc.sink, svc.hs, svc.agri = sink, hs, agri
            r = svc.run("sync")
            assert r.returncode == 0, r.stdout + r.stderr
            yield svc
    finally:
        sink.stop()
        hs.close()


def bind(svc, uid):
    """@uid:agent.agri.test validates uid@agri.gouv.fr and binds it (v2)."""
    mxid, address, secret = f"@{uid}:{HS}", f"{uid}@agri.gouv.fr", "sec-" + uid
    auth = {"Authorization": "Bearer " + harness.register(svc, svc.hs, mxid, server=HS)}
    r = requests.post(svc.url(V2 + "/validate/email/requestToken"), headers=auth, json={
        "client_secret": secret, "email": address, "send_attempt": 1})
    assert r.status_code == 200, r.text
    sid = r.json()["sid"]

    def link_in(msg):
        m = re.search(r"https?://\S+submitToken\S+", msg.get_body(("plain",)).get_content())
        return m.group(0) if m and f"sid={sid}" in m.group(0) else None

    assert requests.get(link_in(svc.sink.wait_for(link_in)[2])).status_code == 200
    r = requests.post(svc.url(V2 + "/3pid/bind"), headers=auth,
                      json={"sid": sid, "client_secret": secret, "mxid": mxid})
    assert r.status_code == 200, r.text
    return mxid


def leavers(svc, **params):
    return requests.get(f"http://127.0.0.1:{svc.internal_port}{LEAVERS}", params=params, timeout=10)


def page(svc, **params):
    r = leavers(svc, **params)
    assert r.status_code == 200, r.text
    return r.json()


def summary(body):
    return [(e["mxid"], e["address"], e["reason"]) for e in body["leavers"]]


def test_leavers(env):
    svc = env
    for uid in ("gone", "quit", "mover", "stay", "late"):
        bind(svc, uid)  # idle never binds
    assert page(svc) == {"leavers": [], "next": "0"}
    # One run: gone, idle and mover leave agri's export, quit is disabled.
    agri_ldif(svc.agri, absent=("gone", "idle", "mover"), disabled=("quit",))
    r = svc.run("sync", "--allow-mass-delete")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "removed=3" in r.stdout, r.stdout
    body = page(svc)
    # Oldest first: the run applies changes (quit's) before removals.
    assert summary(body) == [(f"@quit:{HS}", "quit@agri.gouv.fr", "disabled"),
                             (f"@gone:{HS}", "gone@agri.gouv.fr", "removed")], body
    for e in body["leavers"]:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", e["at"]), e
        assert e["medium"] == "email"
    # Recorded: idle (unbound, not listed) too; not mover, whose address culture still holds.
    assert svc.sql("SELECT string_agg(address || ':' || reason, ',' ORDER BY id)"
                   " FROM annuaire.directory_leavers").strip() == \
        "quit@agri.gouv.fr:disabled,gone@agri.gouv.fr:removed,idle@agri.gouv.fr:removed"
    # Nothing deleted: the bindings stay.
    assert svc.sql("SELECT count(*) FROM annuaire.associations").strip() == "5"

    # The cursor pages: one at a time, then nothing new, then what the next run adds.
    first = page(svc, limit="1")
    assert summary(first) == summary(body)[:1]
    second = page(svc, since=first["next"], limit="1")
    assert summary(second) == summary(body)[1:]
    empty = page(svc, since=second["next"])
    assert empty["leavers"] == []
    assert empty["next"] == body["next"]  # after the unbound one too, up to the last recorded
    # A run that changes nothing records nothing; then late is removed.
    assert svc.run("sync", "--allow-mass-delete").returncode == 0
    assert page(svc, since=body["next"]) == {"leavers": [], "next": body["next"]}
    agri_ldif(svc.agri, absent=("gone", "idle", "mover", "late"), disabled=("quit",))
    assert svc.run("sync", "--allow-mass-delete").returncode == 0
    later = page(svc, since=body["next"])
    assert summary(later) == [(f"@late:{HS}", "late@agri.gouv.fr", "removed")], later
    assert int(later["next"]) > int(body["next"])
    assert summary(page(svc)) == summary(body) + summary(later)

    # Bad cursors and limits.
    for params in ({"since": "-1"}, {"since": "abc"}, {"since": "1" * 19}, {"since": ""},
                   {"limit": "0"}, {"limit": "1001"}, {"limit": "x"}):
        assert_matrix_error(leavers(svc, **params), 400, "M_INVALID_PARAM")
    assert len(page(svc, limit="1000")["leavers"]) == 3

    # Not on the public listener.
    assert_matrix_error(requests.get(svc.url(LEAVERS), timeout=10), 404, "M_UNRECOGNIZED")

    # The CLI: lines for people, the same page as JSON.
    r = svc.run("leavers")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 3, r.stdout
    assert re.fullmatch(r"\d+  \S+Z  disabled  quit@agri\.gouv\.fr  @quit:agent\.agri\.test", lines[0])
    assert "removed   gone@agri.gouv.fr  @gone:agent.agri.test" in lines[1]
    assert "removed   late@agri.gouv.fr  @late:agent.agri.test" in lines[2]
    assert f"next: {later['next']}" in r.stderr
    r = svc.run("leavers", "--since", first["next"], "--limit", "1", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == page(svc, since=first["next"], limit="1")
    assert svc.run("leavers", "--since", "x").returncode == 2
    assert svc.run("leavers", "--limit", "1001").returncode == 2
    r = svc.run("leavers", "--help")
    assert r.returncode == 0 and "--since CURSOR" in r.stdout
