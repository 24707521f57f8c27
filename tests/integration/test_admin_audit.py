"""it.admin.audit: GET /_annuaire/admin/v1/audit over entries written by real actions
(pepper rotations from the admin API and the command line, sync runs, refused admin
requests): newest first, exactly as stored, each filter (action, actor, object_kind,
object_id, since as a time or a duration), the cursor, bad parameters; refused without
a token, with a wrong one and without the audit scope, nothing changed; no entry ever
holds a token or a pepper; and audit.retention_days: serve purges, at start, the entries
older than the retention and keeps the others (0 keeps everything)."""
import json
import os
import pwd
import re

import pytest
import requests

import harness
from harness import assert_matrix_error
from test_admin_listener import add_token, auth
from test_admin_sync import ISO
from test_sync_ldif import entry

AUDIT = "/_annuaire/admin/v1/audit"
ROTATE = "/_annuaire/admin/v1/pepper/rotate"
CLI = "cli:" + pwd.getpwuid(os.getuid()).pw_name


def ldif_config(tmp):
    path = tmp / "culture.ldif"
    path.write_text(entry("emartin", "1a000000-0000-4000-8000-000000000001",
                          ["elodie.martin@culture.gouv.fr"]))
    return ("sync:\n  sources:\n    - name: culture\n      ministry: Culture\n"
            f"      priority: 10\n      ldif: {path}\n")


def peppers(svc):
    return svc.sql("SELECT pepper FROM annuaire.lookup_pepper").strip()


@pytest.fixture(scope="module")
def env(cluster, tmp_path_factory):
    svc = harness.Service(cluster, admin=True, config=ldif_config(tmp_path_factory.mktemp("a")))
    with svc:
        svc.secrets = [peppers(svc)]
        svc.tokens = {"auditor": add_token(svc, "auditor", ["audit"]),
                      "root": add_token(svc, "root", ["all"]),
                      "syncer": add_token(svc, "syncer", ["sync"])}
        svc.secrets += list(svc.tokens.values())
        r = requests.post(svc.admin_url(ROTATE), headers=auth(svc.tokens["root"]), timeout=10)
        assert r.status_code == 200, r.text
        svc.secrets.append(peppers(svc))
        for _ in range(3):  # refused: admin.denied, by syncer
            r = requests.get(svc.admin_url(AUDIT), headers=auth(svc.tokens["syncer"]), timeout=10)
            assert r.status_code == 403
        assert svc.run("sync").returncode == 0
        assert svc.run("pepper", "rotate").returncode == 0
        svc.secrets.append(peppers(svc))
        yield svc


def stored(svc, where="true"):
    """The entries as the database has them, newest first, in the answer's shape."""
    rows = svc.sql(f"SELECT json_build_object('id', id, 'at', to_char(at AT TIME ZONE 'UTC', {ISO}),"
                   " 'actor_kind', actor_kind, 'actor', actor, 'action', action,"
                   " 'object_kind', object_kind, 'object_id', object_id, 'outcome', outcome,"
                   f" 'details', details) FROM annuaire.audit_log WHERE {where} ORDER BY id DESC")
    return [json.loads(line) for line in rows.splitlines()]


def get(svc, token="auditor", **params):
    return requests.get(svc.admin_url(AUDIT), params=params, headers=auth(svc.tokens[token]),
                        timeout=10)


def test_everything_newest_first_as_stored(env):
    r = get(env)
    assert r.status_code == 200, r.text
    want = stored(env)
    assert r.json() == {"entries": want}
    actions = [(e["actor_kind"], e["actor"], e["action"], e["object_kind"], e["outcome"])
               for e in want]
    assert actions == [
        ("cli", CLI, "pepper.rotated", "pepper", "ok"),
        ("cli", CLI, "sync.run", "sync_source", "ok"),
        ("admin", "syncer", "admin.denied", "route", "refused"),
        ("admin", "syncer", "admin.denied", "route", "refused"),
        ("admin", "syncer", "admin.denied", "route", "refused"),
        ("admin", "root", "pepper.rotated", "pepper", "ok"),
    ]
    assert want[1]["object_id"] == "culture" and want[1]["details"]["added"] == 1
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", e["at"]) for e in want)


def test_filters(env):
    r = get(env, action="admin.denied")
    assert r.json() == {"entries": stored(env, "action = 'admin.denied'")}
    assert len(r.json()["entries"]) >= 3
    r = get(env, actor="root")
    assert [e["action"] for e in r.json()["entries"]] == ["pepper.rotated"]
    r = get(env, object_kind="sync_source", object_id="culture")
    assert r.json() == {"entries": stored(env, "object_kind = 'sync_source'"
                                               " AND object_id = 'culture'")}
    assert len(r.json()["entries"]) == 1
    r = get(env, action="sync.run", actor="root")
    assert r.json() == {"entries": []}
    r = get(env, action="no.such.action")
    assert r.json() == {"entries": []}


def test_since(env):
    # Two entries made three days old; the filter keeps what is newer.
    env.sql("UPDATE annuaire.audit_log SET at = now() - interval '3 days' WHERE id IN"
            " (SELECT id FROM annuaire.audit_log ORDER BY id LIMIT 2)")
    newer = stored(env, "at > now() - interval '1 day'")
    assert len(newer) == len(stored(env)) - 2
    for since in ("24h", "1d", "1440m", "86400s"):
        assert get(env, since=since).json() == {"entries": newer}, since
    assert get(env, since="1w").json() == {"entries": stored(env)}
    two_days_ago = env.sql("SELECT to_char((now() - interval '2 days') AT TIME ZONE 'UTC',"
                           " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')").strip()
    assert get(env, since=two_days_ago).json() == {"entries": newer}
    # The same time with an offset, and a date alone (midnight UTC).
    local = env.sql("SELECT to_char((now() - interval '2 days') AT TIME ZONE '+02',"
                    " 'YYYY-MM-DD\"T\"HH24:MI:SS') || '+02:00'").strip()
    assert get(env, since=local).json() == {"entries": newer}
    assert get(env, since="2999-01-01").json() == {"entries": []}
    assert get(env, since="2000-01-01").json() == {"entries": stored(env)}


def test_pages(env):
    seen, cursor = [], None
    while True:
        params = {"limit": "2"}
        if cursor:
            params["from"] = cursor
        body = get(env, **params).json()
        assert 1 <= len(body["entries"]) <= 2
        seen += body["entries"]
        cursor = body.get("next")
        if cursor is None:
            break
    assert seen == stored(env)
    # A filter and a cursor together.
    first = get(env, action="admin.denied", limit="1").json()
    rest = get(env, action="admin.denied", **{"from": first["next"]}).json()
    assert first["entries"] + rest["entries"] == stored(env, "action = 'admin.denied'")


@pytest.mark.parametrize("params", [{"since": "yesterday"}, {"since": "24"}, {"since": "h"},
                                    {"since": "2026-02-30T00:00:00Z"}, {"since": "2026-13-01"},
                                    {"since": "2026-12-01T25:00:00Z"}, {"since": "9999999h"},
                                    {"limit": "0"}, {"limit": "1000"}, {"from": "x1"},
                                    {"action": ""}, {"actor": "a" * 300}])
def test_bad_parameters(env, params):
    assert_matrix_error(get(env, **params), 400, "M_INVALID_PARAM")


def test_refused_without_the_audit_scope(env):
    before = stored(env)
    for headers in ({}, auth("nope"), auth(env.tokens["auditor"].upper())):
        r = requests.get(env.admin_url(AUDIT), headers=headers, timeout=10)
        assert_matrix_error(r, 401, "M_UNAUTHORIZED")
    assert stored(env) == before
    assert_matrix_error(get(env, token="syncer"), 403, "M_FORBIDDEN")
    after = stored(env)
    assert after[1:] == before
    assert (after[0]["actor"], after[0]["action"], after[0]["object_id"],
            after[0]["details"]["scope"]) == ("syncer", "admin.denied", AUDIT, "audit")


def test_no_token_or_pepper_in_the_audit_log(env):
    text = env.sql("SELECT string_agg(a::text, ' ') FROM annuaire.audit_log a")
    assert "pepper.rotated" in text and "sync.run" in text
    assert len(env.secrets) == 6 and len(set(env.secrets)) == 6
    for secret in env.secrets:
        assert secret and secret not in text


def test_retention_purges_at_start(cluster, tmp_path):
    svc = harness.Service(cluster, config="audit:\n  retention_days: 30\n")
    for _ in range(3):
        assert svc.run("pepper", "rotate").returncode == 0
    ids = [int(i) for i in svc.sql("SELECT id FROM annuaire.audit_log ORDER BY id").split()]
    svc.sql(f"UPDATE annuaire.audit_log SET at = now() - interval '31 days' WHERE id = {ids[0]}")
    svc.sql(f"UPDATE annuaire.audit_log SET at = now() - interval '29 days' WHERE id = {ids[1]}")
    with svc:
        harness.wait_until(lambda: "audit: 1 entry older than 30 days purged" in svc.read_log(),
                           timeout=20)
        left = [int(i) for i in svc.sql("SELECT id FROM annuaire.audit_log ORDER BY id").split()]
        assert left == ids[1:]


def test_retention_zero_keeps_everything(cluster):
    svc = harness.Service(cluster, config="audit:\n  retention_days: 0\n")
    assert svc.run("pepper", "rotate").returncode == 0
    svc.sql("UPDATE annuaire.audit_log SET at = now() - interval '20 years'")
    with svc:
        # No retention thread is started: nothing runs that could purge later.
        assert svc.sql("SELECT count(*) FROM annuaire.audit_log").strip() == "1"
        assert "purged" not in svc.read_log()
