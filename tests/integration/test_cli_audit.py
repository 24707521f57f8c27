"""it.cli.audit: `annuaire audit -c FILE` over entries written by real commands (pepper
rotations, a sync run): one line per entry, newest first (time, kind:actor, action,
object, outcome, details); --json as the admin API shows entries; --since, --action,
--actor, --limit; usage errors exit 2; --purge deletes the entries past
audit.retention_days once and says how many (0: none, kept forever)."""
import json
import os
import pwd
import subprocess

import pytest

import harness
from test_admin_audit import stored
from test_sync_ldif import entry

CLI = "cli:" + pwd.getpwuid(os.getuid()).pw_name


@pytest.fixture(scope="module")
def svc(cluster, tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "culture.ldif"
    path.write_text(entry("emartin", "1a000000-0000-4000-8000-000000000001",
                          ["elodie.martin@culture.gouv.fr"]))
    svc = harness.Service(cluster, config=(
        "audit:\n  retention_days: 30\n"
        "sync:\n  sources:\n    - name: culture\n      ministry: Culture\n      priority: 10\n"
        f"      ldif: {path}\n"))
    assert svc.run("pepper", "rotate").returncode == 0
    assert svc.run("sync").returncode == 0
    assert svc.run("pepper", "rotate").returncode == 0
    yield svc


def line(e):
    obj = e["object_kind"] + (f"/{e['object_id']}" if e["object_id"] else "")
    details = json.dumps(e["details"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return f"{e['at']}  {e['actor_kind']}:{e['actor']}  {e['action']}  {obj}  {e['outcome']}  {details}"


def test_lines_newest_first(svc):
    r = svc.run("audit")
    assert r.returncode == 0, r.stderr
    entries = stored(svc)
    assert [e["action"] for e in entries] == ["pepper.rotated", "sync.run", "pepper.rotated"]
    assert r.stdout.splitlines() == [line(e) for e in entries]
    assert f"  cli:{CLI}  sync.run  sync_source/culture  ok  " in r.stdout
    assert r.stderr == ""


def test_json(svc):
    r = svc.run("audit", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == stored(svc)


def test_filters_and_limit(svc):
    r = svc.run("audit", "--action", "sync.run", "--json")
    assert json.loads(r.stdout) == stored(svc, "action = 'sync.run'")
    r = svc.run("audit", "--actor", CLI, "--action", "pepper.rotated")
    assert r.stdout.splitlines() == [line(e) for e in stored(svc, "action = 'pepper.rotated'")]
    r = svc.run("audit", "--actor", "someone-else")
    assert r.returncode == 0 and r.stdout == ""
    r = svc.run("audit", "--limit", "1")
    assert r.returncode == 0 and r.stdout.splitlines() == [line(stored(svc)[0])]
    assert "more entries than --limit 1" in r.stderr


def test_since(svc):
    oldest = stored(svc)[-1]["id"]
    svc.sql(f"UPDATE annuaire.audit_log SET at = now() - interval '2 days' WHERE id = {oldest}")
    r = svc.run("audit", "--since", "24h", "--json")
    assert json.loads(r.stdout) == stored(svc, f"id <> {oldest}")
    r = svc.run("audit", "--since", "2000-01-01T00:00:00Z", "--json")
    assert json.loads(r.stdout) == stored(svc)


@pytest.mark.parametrize("args", [
    (), ("--bogus",), ("--since", "yesterday"), ("--since",), ("--limit", "0"),
    ("--limit", "10001"), ("--limit", "x"), ("--purge", "--action", "sync.run"), ("extra",)])
def test_usage_errors_exit_2(svc, args):
    cmd = [harness.BIN, "audit"] + (["-c", svc.config_path] if args else []) + list(args)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stdout == "" and len(r.stderr.splitlines()) == 1 and "annuaire audit" in r.stderr


def test_help():
    r = subprocess.run([harness.BIN, "audit", "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "--purge" in r.stdout and "--since" in r.stdout
    r = subprocess.run([harness.BIN, "--help"], capture_output=True, text=True, timeout=30)
    assert "  audit " in r.stdout


def test_purge(svc):
    ids = [e["id"] for e in stored(svc)]
    svc.sql(f"UPDATE annuaire.audit_log SET at = now() - interval '31 days' WHERE id = {ids[0]}")
    svc.sql(f"UPDATE annuaire.audit_log SET at = now() - interval '29 days' WHERE id = {ids[1]}")
    r = svc.run("audit", "--purge")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "1 audit entry older than 30 days purged\n"
    assert [e["id"] for e in stored(svc)] == ids[1:]
    r = svc.run("audit", "--purge")
    assert r.stdout == "0 audit entries older than 30 days purged\n"


def test_purge_with_retention_zero(cluster):
    svc = harness.Service(cluster, config="audit:\n  retention_days: 0\n")
    assert svc.run("pepper", "rotate").returncode == 0
    svc.sql("UPDATE annuaire.audit_log SET at = now() - interval '20 years'")
    r = svc.run("audit", "--purge")
    assert r.returncode == 0, r.stderr
    assert "kept forever" in r.stdout
    assert svc.sql("SELECT count(*) FROM annuaire.audit_log").strip() == "1"
