"""it.admin.sync: GET /_annuaire/admin/v1/sync/sources and .../sync/runs after real
`annuaire sync` runs of LDIF sources: each source configured (one that never applied a
run, one whose runs failed) and one the database knows that is no longer configured,
with its entries, conflicts and last run, exactly; the runs newest first, by source,
page by page; the sync.run audit entry of each run (none for a dry run); and both
endpoints refused without a token, with a wrong one and without the sync scope, nothing
changed."""
import os
import pwd
import shutil

import pytest
import requests

import harness
from harness import assert_matrix_error
from test_admin_listener import add_token, auth
from test_sync_ldif import entry, source

SOURCES = "/_annuaire/admin/v1/sync/sources"
RUNS = "/_annuaire/admin/v1/sync/runs"
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
CLI = "cli:" + pwd.getpwuid(os.getuid()).pw_name
ISO = "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'"


def sync_config(sources):
    return ("sync:\n  removal_grace_runs: 0\n  removal_grace_seconds: 0\n  sources:\n"
            + "".join(sources))


@pytest.fixture(scope="module")
def env(cluster, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sync")
    culture = tmp / "culture.ldif"
    shutil.copy(os.path.join(DATA, "culture.ldif"), culture)
    interieur = tmp / "interieur.ldif"
    # One address shared with culture (a conflict culture wins: lower priority number).
    interieur.write_text(
        entry("amartin", "2b000000-0000-4000-8000-000000000001",
              ["anne.martin@interieur.gouv.fr"])
        + entry("edoublon", "2b000000-0000-4000-8000-000000000002",
                ["e.martin@culture.gouv.fr", "e.doublon@interieur.gouv.fr"]))
    old = tmp / "old.ldif"
    old.write_text(entry("ancien", "3c000000-0000-4000-8000-000000000001",
                         ["ancien@old.gouv.fr"]))
    everything = [source("culture", culture, 10), source("interieur", interieur, 20),
                  source("old", old, 30), source("broken", tmp / "missing.ldif", 40),
                  source("neverrun", tmp / "never.ldif", 50)]
    svc = harness.Service(cluster, admin=True, config=sync_config(everything))
    runs = []
    for src in ("culture", "interieur", "old", "broken"):
        r = svc.run("sync", "--source", src)
        runs.append((src, r.returncode))
    assert runs == [("culture", 3), ("interieur", 0), ("old", 0), ("broken", 1)], runs
    # A second culture run, and a dry run that records nothing.
    assert svc.run("sync", "--source", "culture").returncode == 3
    assert svc.run("sync", "--source", "interieur", "--dry-run").returncode == 0
    # "old" is no longer configured when serve starts.
    svc.write_config(sync_config([everything[0], everything[1], everything[3], everything[4]]))
    with svc:
        svc.tokens = {
            "sync": add_token(svc, "syncer", ["sync"]),
            "all": add_token(svc, "root", ["all"]),
            "audit": add_token(svc, "auditor", ["audit", "directory", "invitations"]),
        }
        yield svc


def run_row(svc, run_id):
    row = svc.sql(f"SELECT id, source, mode, status, to_char(started_at AT TIME ZONE 'UTC', {ISO}),"
                  f" to_char(ended_at AT TIME ZONE 'UTC', {ISO}), added, changed, removed,"
                  f" unchanged, rejected, conflicts, missing, dropped, entries_read, error"
                  f" FROM annuaire.sync_runs WHERE id = {run_id}").strip().split("|")
    names = ["id", "source", "mode", "status", "started_at", "ended_at", "added", "changed",
             "removed", "unchanged", "rejected", "conflicts", "missing", "dropped",
             "entries_read", "error"]
    out = dict(zip(names, row))
    for k in ("id", "added", "changed", "removed", "unchanged", "rejected", "conflicts",
              "missing", "dropped"):
        out[k] = int(out[k])
    out["entries_read"] = int(out["entries_read"]) if out["entries_read"] else None
    out["error"] = out["error"] or None
    return out


def run_ids(svc, source=None):
    where = f" WHERE source = '{source}'" if source else ""
    return [int(x) for x in svc.sql(f"SELECT id FROM annuaire.sync_runs{where}"
                                    " ORDER BY id DESC").split()]


def test_sources_exactly(env):
    r = requests.get(env.admin_url(SOURCES), headers=auth(env.tokens["sync"]), timeout=10)
    assert r.status_code == 200, r.text

    def last(source):
        row = run_row(env, run_ids(env, source)[0])
        del row["source"]
        return row

    full_at = env.sql(f"SELECT name, to_char(last_full_at AT TIME ZONE 'UTC', {ISO})"
                      " FROM annuaire.sync_sources ORDER BY name").split()
    full_at = dict(line.split("|") for line in full_at)
    zero = {"live": 0, "disabled": 0, "hidden": 0, "missing": 0, "deleted": 0}
    want = [
        {"name": "culture", "ministry": "Ministère culture", "priority": 10, "configured": True,
         "last_full_at": full_at["culture"], "conflicts": 1, "last_run": last("culture"),
         "entries": {"live": 2, "disabled": 0, "hidden": 1, "missing": 0, "deleted": 0}},
        {"name": "interieur", "ministry": "Ministère interieur", "priority": 20,
         "configured": True, "last_full_at": full_at["interieur"], "conflicts": 1,
         "last_run": last("interieur"),
         "entries": {"live": 2, "disabled": 0, "hidden": 0, "missing": 0, "deleted": 0}},
        # Its runs failed: no row of its own, its runs only.
        {"name": "broken", "ministry": "Ministère broken", "priority": 40, "configured": True,
         "last_full_at": None, "conflicts": 0, "last_run": last("broken"), "entries": zero},
        {"name": "neverrun", "ministry": "Ministère neverrun", "priority": 50,
         "configured": True, "last_full_at": None, "conflicts": 0, "last_run": None,
         "entries": zero},
        {"name": "old", "ministry": "Ministère old", "priority": 30, "configured": False,
         "last_full_at": full_at["old"], "conflicts": 0, "last_run": last("old"),
         "entries": {"live": 1, "disabled": 0, "hidden": 0, "missing": 0, "deleted": 0}},
    ]
    assert list(r.json()) == ["sources"]
    assert [s["name"] for s in r.json()["sources"]] == [s["name"] for s in want]
    for got, expected in zip(r.json()["sources"], want):
        assert got == expected
    culture = r.json()["sources"][0]["last_run"]
    assert (culture["status"], culture["mode"], culture["unchanged"], culture["rejected"]) == \
        ("partial", "full", 2, 1)
    broken = r.json()["sources"][2]["last_run"]
    assert broken["status"] == "failed" and "missing.ldif" in broken["error"]


def test_runs_newest_first_page_by_page(env):
    ids = run_ids(env)
    assert len(ids) == 5  # the dry run is not recorded
    seen, cursor = [], None
    while True:
        params = {"limit": 2}
        if cursor:
            params["from"] = cursor
        r = requests.get(env.admin_url(RUNS), params=params, headers=auth(env.tokens["sync"]),
                         timeout=10)
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["runs"]) <= 2
        seen += body["runs"]
        cursor = body.get("next")
        if cursor is None:
            assert set(body) == {"runs"}
            break
        assert set(body) == {"runs", "next"} and isinstance(cursor, str)
    assert seen == [run_row(env, i) for i in ids]
    # Of one source, all in one page (the default limit).
    r = requests.get(env.admin_url(RUNS), params={"source": "culture"},
                     headers=auth(env.tokens["all"]), timeout=10)
    assert r.json() == {"runs": [run_row(env, i) for i in run_ids(env, "culture")]}
    assert len(r.json()["runs"]) == 2
    r = requests.get(env.admin_url(RUNS), params={"source": "nosuch"},
                     headers=auth(env.tokens["sync"]), timeout=10)
    assert r.json() == {"runs": []}


@pytest.mark.parametrize("params", [{"limit": "0"}, {"limit": "501"}, {"limit": "ten"},
                                    {"limit": "-1"}, {"from": "abc"}, {"from": "0"},
                                    {"from": "1" * 30}, {"source": ""}])
def test_bad_page_parameters(env, params):
    r = requests.get(env.admin_url(RUNS), params=params, headers=auth(env.tokens["sync"]),
                     timeout=10)
    assert_matrix_error(r, 400, "M_INVALID_PARAM")


def test_each_run_has_its_audit_entry(env):
    rows = env.sql("SELECT actor_kind, actor, object_kind, object_id, outcome,"
                   " details->>'run', details->>'status', details->>'added',"
                   " details->>'rejected', details->>'unchanged'"
                   " FROM annuaire.audit_log WHERE action = 'sync.run' ORDER BY id").splitlines()
    ids = run_ids(env)[::-1]
    assert rows == [
        f"cli|{CLI}|sync_source|culture|ok|{ids[0]}|partial|2|1|0",
        f"cli|{CLI}|sync_source|interieur|ok|{ids[1]}|success|2|0|0",
        f"cli|{CLI}|sync_source|old|ok|{ids[2]}|success|1|0|0",
        f"cli|{CLI}|sync_source|broken|failed|{ids[3]}|failed|0|0|0",
        f"cli|{CLI}|sync_source|culture|ok|{ids[4]}|partial|0|1|2",
    ]
    # The failed run's reason is there; no run's report is.
    details = env.sql("SELECT details::text FROM annuaire.audit_log WHERE action = 'sync.run'"
                      " AND object_id = 'broken'")
    assert "missing.ldif" in details
    assert "nokey" not in env.sql("SELECT string_agg(details::text, ' ')"
                                  " FROM annuaire.audit_log WHERE action = 'sync.run'")


def state(svc):
    return svc.sql("SELECT (SELECT count(*) FROM annuaire.sync_runs),"
                   " (SELECT count(*) FROM annuaire.sync_sources),"
                   " (SELECT count(*) FROM annuaire.directory_entries),"
                   " (SELECT count(*) FROM annuaire.audit_log WHERE action <> 'admin.denied'),"
                   " (SELECT pepper FROM annuaire.lookup_pepper)")


@pytest.mark.parametrize("path", [SOURCES, RUNS])
def test_refused_without_the_sync_scope(env, path):
    before = state(env)
    denied = int(env.sql("SELECT count(*) FROM annuaire.audit_log"
                         " WHERE action = 'admin.denied'"))
    for headers in ({}, auth("wrong-token"), auth(env.tokens["sync"] + "x")):
        assert_matrix_error(requests.get(env.admin_url(path), headers=headers, timeout=10),
                            401, "M_UNAUTHORIZED")
    r = requests.get(env.admin_url(path), headers=auth(env.tokens["audit"]), timeout=10)
    assert_matrix_error(r, 403, "M_FORBIDDEN")
    rows = env.sql("SELECT actor_kind, actor, object_id, outcome, details->>'scope'"
                   " FROM annuaire.audit_log WHERE action = 'admin.denied'"
                   f" ORDER BY id OFFSET {denied}").splitlines()
    assert rows == [f"admin|auditor|{path}|refused|sync"]
    assert state(env) == before


def test_refused_and_dry_runs(cluster, tmp_path):
    path = tmp_path / "guarded.ldif"
    path.write_text(entry("seul", "4d000000-0000-4000-8000-000000000001", ["seul@guarded.gouv.fr"]))
    svc = harness.Service(cluster, config=sync_config(
        [source("guarded", path, 10) + "      min_entries: 5\n"]))
    assert svc.run("sync", "--dry-run").returncode == 4
    assert svc.sql("SELECT count(*) FROM annuaire.audit_log").strip() == "0"
    assert svc.run("sync").returncode == 4
    rows = svc.sql("SELECT actor_kind, actor, object_id, outcome, details->>'status',"
                   " details->>'error' LIKE '%min_entries%'"
                   " FROM annuaire.audit_log WHERE action = 'sync.run'").splitlines()
    assert rows == [f"cli|{CLI}|guarded|refused|refused|t"]
    run = svc.sql("SELECT id FROM annuaire.sync_runs").strip()
    assert svc.sql("SELECT details->>'run' FROM annuaire.audit_log").strip() == run
