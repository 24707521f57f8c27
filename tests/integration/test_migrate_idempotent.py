"""it.migrate.idempotent: migrate applies each file once, concurrently too, and serve
refuses a database that is behind."""
import subprocess

import harness


def test_migrate_twice(cluster):
    svc = harness.Service(cluster, migrate=False)
    first = svc.run("migrate")
    assert first.returncode == 0, first.stderr
    assert "1 migration applied" in first.stdout or "migrations applied" in first.stdout
    second = svc.run("migrate")
    assert second.returncode == 0, second.stderr
    assert "(0 migrations applied)" in second.stdout
    rows = cluster.psql("SELECT version, name FROM annuaire.schema_version ORDER BY version", db=svc.db)
    assert rows.splitlines()[0] == "1|001_init.sql"


def test_concurrent_migrate(cluster):
    svc = harness.Service(cluster, migrate=False)
    procs = [subprocess.Popen([harness.BIN, "migrate", "-c", svc.config_path],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    results = [p.communicate(timeout=60) + (p.returncode,) for p in procs]
    assert all(rc == 0 for _, _, rc in results), results
    count = cluster.psql("SELECT count(*), count(DISTINCT version) FROM annuaire.schema_version",
                         db=svc.db).strip()
    n, distinct = count.split("|")
    assert n == distinct


def test_serve_refuses_stale_schema(cluster):
    svc = harness.Service(cluster, migrate=False)
    svc.start(wait=False)
    rc = svc.proc.wait(30)
    svc.proc = None
    svc.log.close()
    assert rc == 1
    log = svc.read_log()
    assert "schema is at version 0" in log
    assert "run 'annuaire migrate -c " in log


def test_serve_refuses_unreachable_database(cluster):
    svc = harness.Service(cluster, db="no_such_database", migrate=False)
    svc.start(wait=False)
    rc = svc.proc.wait(30)
    svc.proc = None
    svc.log.close()
    assert rc == 1
    assert "cannot connect to the database" in svc.read_log()


def test_sync_refuses_stale_schema(cluster):
    svc = harness.Service(cluster, migrate=False,
                          config="sync:\n  sources:\n    - name: x\n      ministry: X\n      ldif: /none\n")
    r = svc.run("sync")
    assert r.returncode == 1
    assert "annuaire sync: the database schema is at version 0" in r.stderr
    assert "run 'annuaire migrate -c " in r.stderr
