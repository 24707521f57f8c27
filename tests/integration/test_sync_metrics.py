"""it.sync.metrics: what serve's /metrics and `sync --status` say of the sources: live
entries, the last run (its end, status and counts, a failed one included) and the end of the
last run that applied."""
import os
import re
import shutil

import requests

from test_sync_ldif import DATA, SyncEnv, entry, source


def test_metrics_and_status(cluster, tmp_path):
    culture = tmp_path / "culture.ldif"
    shutil.copy(os.path.join(DATA, "culture.ldif"), culture)
    sport = tmp_path / "sport.ldif"
    sport.write_text(entry("alice", "2b000000-0000-4000-8000-000000000001",
                           ["alice@sports.gouv.fr"]))
    env = SyncEnv(cluster, tmp_path, source("culture", culture) + source("sport", sport, 20))
    assert env.sync().returncode == 3  # culture: one entry rejected
    # Both again, in one process: each through the staging table of its own transaction.
    r = env.sync()
    assert "culture: partial (full) added=0 changed=0 removed=0 unchanged=2 rejected=1" in r.stdout \
        and "sport: success (full) added=0 changed=0 removed=0 unchanged=1 rejected=0" in r.stdout, \
        r.stdout + r.stderr
    # Then a run of sport that fails: nothing applied, the failure recorded.
    sport.write_text("dn: uid=bob,ou=people,dc=sports,dc=gouv,dc=fr\nnot an attribute line\n\n")
    r = env.sync("--source", "sport")
    assert r.returncode == 1 and "failed, nothing changed" in r.stderr, r.stdout + r.stderr

    status = env.sync("--status")
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert len(lines) == 2, status.stdout
    assert re.fullmatch(r"culture \(Ministère culture\): 2 entries; last run full partial at "
                        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+: added=0 changed=0 removed=0 "
                        r"rejected=1 conflicts=0 missing=0", lines[0]), lines[0]
    assert re.fullmatch(r"sport \(Ministère sport\): 1 entries; last run full failed at "
                        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+: added=0 changed=0 removed=0 "
                        r"rejected=0 conflicts=0 missing=0: .*sport\.ldif:2: not an attribute "
                        r"line.*", lines[1]), lines[1]

    with env.svc:
        text = requests.get(env.svc.url("/metrics"), timeout=10).text
    ours = [l for l in text.splitlines() if l.startswith("annuaire_sync_")
            or l.startswith("# HELP annuaire_sync_") or l.startswith("# TYPE annuaire_sync_")]
    samples = [re.sub(r" \d{9,}$", " T", l) for l in ours]  # timestamps vary
    assert samples == [
        "# HELP annuaire_sync_entries Live entries of each source.",
        "# TYPE annuaire_sync_entries gauge",
        'annuaire_sync_entries{source="culture"} 2',
        'annuaire_sync_entries{source="sport"} 1',
        "# HELP annuaire_sync_last_run_timestamp_seconds End of the last sync run.",
        "# TYPE annuaire_sync_last_run_timestamp_seconds gauge",
        'annuaire_sync_last_run_timestamp_seconds{source="culture",status="partial"} T',
        'annuaire_sync_last_run_timestamp_seconds{source="sport",status="failed"} T',
        "# HELP annuaire_sync_last_success_timestamp_seconds End of the last run that applied.",
        "# TYPE annuaire_sync_last_success_timestamp_seconds gauge",
        'annuaire_sync_last_success_timestamp_seconds{source="culture"} T',
        'annuaire_sync_last_success_timestamp_seconds{source="sport"} T',
        "# HELP annuaire_sync_last_run_entries What the last run did, by kind.",
        "# TYPE annuaire_sync_last_run_entries gauge",
        'annuaire_sync_last_run_entries{source="culture",kind="added"} 0',
        'annuaire_sync_last_run_entries{source="culture",kind="changed"} 0',
        'annuaire_sync_last_run_entries{source="culture",kind="removed"} 0',
        'annuaire_sync_last_run_entries{source="culture",kind="rejected"} 1',
        'annuaire_sync_last_run_entries{source="culture",kind="conflicts"} 0',
        'annuaire_sync_last_run_entries{source="culture",kind="missing"} 0',
        'annuaire_sync_last_run_entries{source="sport",kind="added"} 0',
        'annuaire_sync_last_run_entries{source="sport",kind="changed"} 0',
        'annuaire_sync_last_run_entries{source="sport",kind="removed"} 0',
        'annuaire_sync_last_run_entries{source="sport",kind="rejected"} 0',
        'annuaire_sync_last_run_entries{source="sport",kind="conflicts"} 0',
        'annuaire_sync_last_run_entries{source="sport",kind="missing"} 0',
        "# HELP annuaire_sync_busy_total Runs not made because another run of the source held "
        "its lock (a run that hangs with it makes this grow).",
        "# TYPE annuaire_sync_busy_total counter",
        'annuaire_sync_busy_total{source="culture"} 0',
        'annuaire_sync_busy_total{source="sport"} 0',
    ], "\n".join(ours)


def test_retired_and_retire_runs(cluster, tmp_path):
    """A retire (mode 'retire', refused or done) is no run of the source: a refused one
    does not become its last run; a retired source leaves /metrics."""
    small, big = tmp_path / "small.ldif", tmp_path / "big.ldif"
    small.write_text(entry("s", "u-s", ["s@gouv.fr"]))
    big.write_text("".join(entry(f"b{i}", f"u-b{i}", [f"b{i}@gouv.fr"]) for i in range(5)))
    env = SyncEnv(cluster, tmp_path, source("small", small) + source("big", big, 20))
    assert env.sync().returncode == 0
    env.svc.write_config("sync:\n  removal_grace_runs: 0\n  removal_grace_seconds: 0\n  sources:\n" +
                         source("small", small))
    r = env.sync("--retire", "big")
    assert r.returncode == 4, r.stdout + r.stderr  # 5 of the 6 live entries: the guard

    def metrics():
        return [l for l in requests.get(env.svc.url("/metrics"), timeout=10).text.splitlines()
                if l.startswith("annuaire_sync_") and 'source="big"' in l]
    with env.svc:
        lines = metrics()
        assert any(re.fullmatch(r'annuaire_sync_last_run_timestamp_seconds\{source="big",status="success"\} \d+', l)
                   for l in lines), lines
        assert 'annuaire_sync_last_run_entries{source="big",kind="added"} 5' in lines, lines
        assert any(l.startswith('annuaire_sync_last_success_timestamp_seconds{source="big"}') for l in lines), lines

        r = env.sync("--retire", "big", "--allow-mass-delete")
        assert r.returncode == 0, r.stdout + r.stderr
        assert metrics() == []
