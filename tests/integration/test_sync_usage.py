"""it.sync.usage: `annuaire sync --help` describes incremental runs as they are; options
that mean nothing together are usage errors (exit 2); --source errors name the source and
the configured ones; a missing or unreadable LDIF file of a source is reported by
check-config (the config file, the source's item, its name and path, exit 1) and by sync
before it connects."""
import os
import subprocess

import harness
from test_sync_ldif import SyncEnv, entry, source


def run(*args):
    return subprocess.run([harness.BIN, *args], capture_output=True, text=True, timeout=60)


def test_help_describes_incremental_runs():
    r = run("sync", "--help")
    assert r.returncode == 0
    text = " ".join(r.stdout.split())
    for words in ("A run is full or incremental", "An LDIF export is always read whole",
                  "ldap.content_sync (RFC 4533)", "ldap.poll_attribute",
                  "ldap.full_every_hours", "--full", "--retire NAME", "--conflicts",
                  "5 a source was not run because another run of it is in progress"):
        assert words in text, words
    assert "a full read is the only" not in text


def test_meaningless_combinations(cluster, tmp_path):
    env = SyncEnv(cluster, tmp_path, source("culture", tmp_path / "culture.ldif"))
    cases = [
        (("--status", "--dry-run"), "--dry-run cannot go with --status"),
        (("--status", "--full"), "--full cannot go with --status"),
        (("--status", "--allow-mass-delete"), "--allow-mass-delete cannot go with --status"),
        (("--status", "--source", "culture"), "--source cannot go with --status"),
        (("--conflicts", "--dry-run"), "--dry-run cannot go with --conflicts"),
        (("--status", "--conflicts"), "--conflicts cannot go with --status"),
        (("--status", "--retire", "x"), "--retire cannot go with --status"),
        (("--retire", "x", "--full"), "--full cannot go with --retire"),
        (("--retire", "x", "--source", "culture"), "--source cannot go with --retire"),
        (("--retire",), "needs an argument"),
    ]
    for args, message in cases:
        r = env.sync(*args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert message in r.stderr and r.stdout == "", (args, r.stderr)
    assert env.sql("SELECT count(*) FROM annuaire.sync_runs") == "0"


def test_source_errors_name_the_source(cluster, tmp_path):
    a, b = tmp_path / "a.ldif", tmp_path / "b.ldif"
    a.write_text(entry("x", "u-x", ["x@gouv.fr"]))
    b.write_text(entry("y", "u-y", ["y@gouv.fr"]))
    env = SyncEnv(cluster, tmp_path, source("alpha", a) + source("beta", b, 20))
    r = env.sync("--source", "gamma")
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stderr == ("annuaire sync: no source named 'gamma' in sync.sources "
                        "(configured: alpha, beta)\n"), r.stderr
    # Every message of a source's run starts with its name.
    b.write_text("dn: uid=y,dc=x\nobjectClass: inetOrgPerson\nmail: y@gouv.fr\n\n")
    r = env.sync()
    assert r.returncode == 3, r.stdout + r.stderr
    lines = r.stderr.splitlines()
    assert lines and all(line.startswith("beta: ") for line in lines), lines


def test_missing_ldif_file(cluster, tmp_path):
    good = tmp_path / "good.ldif"
    good.write_text(entry("x", "u-x", ["x@gouv.fr"]))
    missing = tmp_path / "missing.ldif"
    env = SyncEnv(cluster, tmp_path, source("good", good) + source("gone", missing, 20))
    r = run("check-config", "-c", env.svc.config_path)
    assert r.returncode == 1, r.stdout + r.stderr
    # The line of the faulty item's ldif key in the file.
    line = next(n for n, text in enumerate(open(env.svc.config_path), 1) if "missing.ldif" in text)
    assert (f"annuaire check-config: {env.svc.config_path}:{line}: sync.sources: sources[1].ldif: "
            f"source 'gone': cannot read {missing}: No such file or directory") in r.stderr, r.stderr
    assert "configuration OK" not in r.stdout
    # A directory is no LDIF file either.
    os.mkdir(missing)
    r = run("check-config", "-c", env.svc.config_path)
    assert r.returncode == 1 and "is a directory" in r.stderr, r.stderr
    os.rmdir(missing)

    # sync says it before connecting (here to a database that is not there) ...
    conf = tmp_path / "nodb.yaml"
    text = open(env.svc.config_path).read()
    conf.write_text(text.replace(env.svc.cluster.conninfo(env.svc.db),
                                 "host=/nonexistent dbname=none connect_timeout=1"))
    r = run("sync", "-c", str(conf))
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    assert lines[0] == (f"annuaire sync: {conf}:{line}: sync.sources: sources[1].ldif: "
                        f"source 'gone': cannot read {missing}: No such file or directory"), lines
    # ... and, connected, runs the others: the source without its file fails.
    r = env.sync()
    assert r.returncode == 1, r.stdout + r.stderr
    assert "good: success (full) added=1" in r.stdout
    assert "sync.sources: sources[1].ldif: source 'gone'" in r.stderr and "gone: failed, nothing changed" in r.stderr
    missing.write_text(entry("y", "u-y", ["y@gouv.fr"]))
    r = run("check-config", "-c", env.svc.config_path)
    assert r.returncode == 0, r.stderr
