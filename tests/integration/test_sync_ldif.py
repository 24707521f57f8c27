"""it.sync.ldif: LDIF exports into the annuaire: full import with rejected entries and
dropped values named, unchanged reruns, changes, soft deletes and their return, the
deletion guard, dry runs, malformed or truncated files (nothing applied), and two
sources claiming one address."""
import base64
import os
import shutil
import subprocess

import pytest

import harness

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def entry(uid, uuid, mails, extra=""):
    lines = [f"dn: uid={uid},ou=people,dc=culture,dc=gouv,dc=fr", "objectClass: inetOrgPerson",
             f"uid: {uid}", f"cn: {uid}", f"sn: {uid}", f"entryUUID: {uuid}"]
    return "\n".join(lines + [f"mail: {m}" for m in mails]) + ("\n" + extra if extra else "") + "\n\n"


# Removals at once, as before sync.removal_grace (the grace: test_sync_grace.py).
IMMEDIATE = "  removal_grace_runs: 0\n  removal_grace_seconds: 0\n"


class SyncEnv:
    def __init__(self, cluster, tmp_path, sources, grace=IMMEDIATE):
        self.tmp = tmp_path
        self.svc = harness.Service(cluster, config="sync:\n" + grace + "  sources:\n" + sources)

    def sync(self, *args):
        return self.svc.run("sync", *args)

    def sql(self, query):
        return self.svc.cluster.psql(query, db=self.svc.db).strip()


def source(name, path, priority=10):
    return (f"    - name: {name}\n      ministry: \"Ministère {name}\"\n      priority: {priority}\n"
            f"      ldif: {path}\n")


@pytest.fixture
def culture(cluster, tmp_path):
    path = tmp_path / "culture.ldif"
    shutil.copy(os.path.join(DATA, "culture.ldif"), path)
    return SyncEnv(cluster, tmp_path, source("culture", path)), path


def test_full_import_and_rerun(culture):
    env, path = culture
    # A dry run of a first import (copied straight into the table) leaves nothing behind.
    r = env.sync("--dry-run")
    assert r.returncode == 3 and "culture: partial (dry-run) added=2" in r.stdout, r.stdout + r.stderr
    assert env.sql("SELECT count(*) FROM annuaire.directory_entries") == "0"
    assert env.sql("SELECT count(*) FROM annuaire.sync_runs") == "0"
    r = env.sync()
    assert r.returncode == 3, r.stderr  # partial: one entry rejected
    assert "culture: partial (full) added=2 changed=0 removed=0 unchanged=0 rejected=1" in r.stdout
    assert "uid=nokey,ou=people,dc=culture,dc=gouv,dc=fr" in r.stderr  # the DN and the reason
    assert "mail 'not an address'" in r.stderr
    rows = env.sql("SELECT display_name, mails, entity, mobile_e164, hidden FROM annuaire.directory_entries"
                   " ORDER BY key")
    assert rows.splitlines() == [
        "Élodie Martin|{elodie.martin@culture.gouv.fr,e.martin@culture.gouv.fr}|"
        "Direction générale des patrimoines et de l'architecture|33612345678|f",
        "Jean Dupont, chargé de mission au service des musées de France, sous-direction des collections|"
        "{jean.dupont@culture.gouv.fr}|Service des musées de France|33698765432|t"]
    assert env.sql("SELECT count(*) FROM annuaire.directory_addresses") == "3"
    report = env.sql("SELECT status, rejected, report::text FROM annuaire.sync_runs")
    assert report.startswith("partial|1|") and "uid=nokey" in report

    r = env.sync()
    assert "added=0 changed=0 removed=0 unchanged=2" in r.stdout
    status = env.sync("--status")
    assert status.returncode == 0
    assert "culture (Ministère culture): 2 entries; last run full partial" in status.stdout


def b64_mail(m):
    """An LDIF mail line: base64 when the value is not ASCII, as LDIF wants."""
    if m.isascii():
        return f"mail: {m}"
    return "mail:: " + base64.b64encode(m.encode()).decode()


def test_mails_in_canonical_form(culture):
    """Directory mails in the API's canonical form: an internationalised domain as its
    A-label, one address however it is written; a mail without a canonical form (folding
    onto ASCII, an invisible character) dropped and reported with the reason, never stored."""
    env, path = culture
    mails = ["Agent@B\u00dcCHER.test", "agent@xn--bcher-kva.test", "\u00c9lodie@Minist\u00e8re.test",
             "bob@gma\u0130l.com", "v@interieur\u200b.gouv.fr", "ok@culture.gouv.fr"]
    text = entry("idn", "u-idn", []).rstrip("\n") + "\n" + "\n".join(b64_mail(m) for m in mails) + "\n\n"
    path.write_text(text)
    r = env.sync()
    assert r.returncode in (0, 3), r.stdout + r.stderr
    assert env.sql("SELECT mails FROM annuaire.directory_entries WHERE key = 'u-idn'") == \
        "{agent@xn--bcher-kva.test,\u00e9lodie@xn--ministre-60a.test,ok@culture.gouv.fr}"
    assert sorted(env.sql("SELECT address FROM annuaire.directory_addresses").split()) == [
        "agent@xn--bcher-kva.test", "ok@culture.gouv.fr", "\u00e9lodie@xn--ministre-60a.test"]
    assert "folds onto ASCII" in r.stderr and "invisible" in r.stderr, r.stderr
    assert "gmail.com" not in env.sql("SELECT string_agg(address, ' ') FROM annuaire.directory_addresses")
    report = env.sql("SELECT report::text FROM annuaire.sync_runs")
    assert "folds onto ASCII" in report and "invisible" in report


def test_changes_soft_delete_and_return(culture):
    env, path = culture
    # Twenty entries, so that one leaving stays under the deletion guard (10%).
    filler = "".join(entry(f"z{i}", f"u-z{i}", [f"z{i}@culture.gouv.fr"]) for i in range(15))
    path.write_text(entry("a", "u-a", ["a@culture.gouv.fr"]) + entry("b", "u-b", ["b@culture.gouv.fr"]) +
                    entry("c", "u-c", ["c@culture.gouv.fr"]) + entry("d", "u-d", ["d@culture.gouv.fr"]) +
                    entry("e", "u-e", ["e@culture.gouv.fr"]) + filler)
    assert env.sync().returncode == 0
    # a renamed (new DN, same key), b changes address, e leaves, f arrives.
    text = path.read_text()
    text = text.replace("dn: uid=a,ou=people", "dn: uid=a,ou=archives")
    text = text.replace("b@culture.gouv.fr", "b.new@culture.gouv.fr")
    text = text.replace(entry("e", "u-e", ["e@culture.gouv.fr"]), "")
    path.write_text(text + entry("f", "u-f", ["f@culture.gouv.fr"]))
    r = env.sync()
    assert "success (full) added=1 changed=2 removed=1 unchanged=17" in r.stdout, r.stdout + r.stderr
    assert env.sql("SELECT dn FROM annuaire.directory_entries WHERE key = 'u-a'") == \
        "uid=a,ou=archives,dc=culture,dc=gouv,dc=fr"
    assert env.sql("SELECT deleted_at IS NOT NULL FROM annuaire.directory_entries WHERE key = 'u-e'") == "t"
    addresses = env.sql("SELECT address FROM annuaire.directory_addresses WHERE address NOT LIKE 'z%'"
                        " ORDER BY 1").split()
    assert addresses == ["a@culture.gouv.fr", "b.new@culture.gouv.fr", "c@culture.gouv.fr",
                         "d@culture.gouv.fr", "f@culture.gouv.fr"]
    # e comes back: the same row, restored.
    path.write_text(path.read_text() + entry("e", "u-e", ["e@culture.gouv.fr"]))
    r = env.sync()
    assert "success (full) added=1 changed=0 removed=0" in r.stdout
    assert env.sql("SELECT deleted_at IS NULL FROM annuaire.directory_entries WHERE key = 'u-e'") == "t"
    assert env.sql("SELECT source FROM annuaire.directory_addresses WHERE address = 'e@culture.gouv.fr'") == "culture"


def test_deletion_guard_and_dry_run(culture):
    env, path = culture
    path.write_text("".join(entry(f"p{i}", f"u-{i}", [f"p{i}@culture.gouv.fr"]) for i in range(20)))
    assert env.sync().returncode == 0
    before = env.sql("SELECT count(*) FROM annuaire.directory_entries WHERE deleted_at IS NULL")
    path.write_text("".join(entry(f"p{i}", f"u-{i}", [f"p{i}@culture.gouv.fr"]) for i in range(15)))
    # A dry run says what would happen and writes nothing, not even a run record.
    runs = env.sql("SELECT count(*) FROM annuaire.sync_runs")
    r = env.sync("--dry-run", "--allow-mass-delete")
    assert r.returncode == 0 and "(dry-run) added=0 changed=0 removed=5 unchanged=15" in r.stdout
    assert env.sql("SELECT count(*) FROM annuaire.sync_runs") == runs
    # 5 of 20 is over 10%: refused, nothing applied, the refusal recorded.
    r = env.sync()
    assert r.returncode == 4
    assert "would remove 5 of 20 entries" in r.stderr
    assert env.sql("SELECT count(*) FROM annuaire.directory_entries WHERE deleted_at IS NULL") == before
    assert env.sql("SELECT status FROM annuaire.sync_runs ORDER BY id DESC LIMIT 1") == "refused"
    r = env.sync("--allow-mass-delete")
    assert r.returncode == 0 and "removed=5" in r.stdout


def test_broken_files_change_nothing(culture):
    env, path = culture
    assert env.sync().returncode == 3
    before = env.sql("SELECT key, content_hash FROM annuaire.directory_entries ORDER BY key")
    good = path.read_text()
    # Malformed: an attribute line without a colon, well into the file.
    lines = good.splitlines(keepends=True)
    bad_at = next(i for i, l in enumerate(lines) if l.startswith("title:"))
    path.write_text("".join(lines[:bad_at] + ["this line has no colon\n"] + lines[bad_at + 1:]))
    r = env.sync()
    assert r.returncode == 1
    assert f"culture.ldif:{bad_at + 1}: not an attribute line" in r.stderr, r.stderr
    assert "nothing changed" in r.stderr
    # Missing.
    path.unlink()
    assert env.sync().returncode == 1
    assert env.sql("SELECT key, content_hash FROM annuaire.directory_entries ORDER BY key") == before
    assert env.sql("SELECT count(*) FROM annuaire.sync_runs WHERE status = 'failed'") == "2"


def test_two_sources_one_address(cluster, tmp_path):
    a, b = tmp_path / "a.ldif", tmp_path / "b.ldif"
    a.write_text(entry("x", "a-x", ["shared@gouv.fr", "only.a@gouv.fr"]))
    b.write_text(entry("y", "b-y", ["shared@gouv.fr"]))
    env = SyncEnv(cluster, tmp_path, source("alpha", a, priority=20) + source("beta", b, priority=10))
    r = env.sync()
    assert r.returncode == 0, r.stderr
    assert "beta: success (full) added=1 changed=0 removed=0 unchanged=0 rejected=0 conflicts=1" in r.stdout
    # beta has the higher priority (lower number): it owns the shared address.
    assert env.sql("SELECT source FROM annuaire.directory_addresses WHERE address = 'shared@gouv.fr'") == "beta"
    assert env.sql("SELECT source FROM annuaire.directory_addresses WHERE address = 'only.a@gouv.fr'") == "alpha"
    conflict = env.sql("SELECT report::text FROM annuaire.sync_runs WHERE source = 'beta'")
    assert "shared@gouv.fr" in conflict and "alpha:" in conflict and "beta:" in conflict
    # beta lets go of it: alpha gets it, nothing is lost.
    b.write_text(entry("y", "b-y", ["other@gouv.fr"]))
    assert env.sync("--source", "beta").returncode == 0
    assert env.sql("SELECT source FROM annuaire.directory_addresses WHERE address = 'shared@gouv.fr'") == "alpha"
    # The service shows every source's state on /metrics.
    with env.svc:
        import requests
        from harness import metric
        text = requests.get(env.svc.url("/metrics")).text
        assert metric(text, "annuaire_sync_entries", source="alpha") == 1
        assert metric(text, "annuaire_sync_entries", source="beta") == 1
        assert metric(text, "annuaire_sync_last_run_timestamp_seconds", source="beta", status="success") > 0
        assert metric(text, "annuaire_sync_last_success_timestamp_seconds", source="alpha") > 0
        assert metric(text, "annuaire_sync_last_run_entries", source="alpha", kind="added") == 1


def test_key_twice_and_address_twice(cluster, tmp_path):
    """A first run copies straight into the annuaire; a key met twice makes it read again
    through staging, which keeps one entry and rejects the other. Two entries of one
    source claiming one address are a conflict too: the lower key owns it."""
    path = tmp_path / "twice.ldif"
    path.write_text(entry("a", "u-1", ["a@culture.gouv.fr"]) + entry("b", "u-2", ["shared@culture.gouv.fr"]) +
                    entry("c", "u-3", ["shared@culture.gouv.fr"]) + entry("a2", "u-1", ["a2@culture.gouv.fr"]))
    env = SyncEnv(cluster, tmp_path, source("culture", path))
    r = env.sync()
    assert r.returncode == 3, r.stdout + r.stderr
    assert "a key appears twice in the read; reading again" in r.stderr
    assert "culture: partial (full) added=3 changed=0 removed=0 unchanged=0 rejected=1 conflicts=1" in r.stdout
    assert env.sql("SELECT count(*) FROM annuaire.directory_entries") == "3"
    assert env.sql("SELECT key FROM annuaire.directory_addresses WHERE address = 'shared@culture.gouv.fr'") == "u-2"
    assert env.sql("SELECT status, rejected, conflicts FROM annuaire.sync_runs") == "partial|1|1"
    assert env.sql("SELECT key FROM annuaire.directory_owner('shared@culture.gouv.fr')") == "u-2"
    assert env.sql("SELECT count(*) FROM annuaire.directory_owner('nobody@culture.gouv.fr')") == "0"


def test_bulk_change_reports_conflicts(cluster, tmp_path):
    """A run changing most of a big source looks for conflicts among all its addresses in
    one pass: those involving it are reported, the others' are not."""
    a, b = tmp_path / "a.ldif", tmp_path / "b.ldif"
    n = 20500
    a.write_text("".join(entry(f"p{i}", f"a-{i}", [f"p{i}@gouv.fr"]) for i in range(n)))
    b.write_text(entry("y", "b-y", ["other@gouv.fr"]) + entry("z", "b-z", ["other@gouv.fr"]))
    env = SyncEnv(cluster, tmp_path, source("alpha", a, priority=20) + source("beta", b, priority=10))
    r = env.sync()
    assert "alpha: success (full) added=20500 changed=0 removed=0 unchanged=0 rejected=0 conflicts=0" in r.stdout
    assert "beta: success (full) added=2 changed=0 removed=0 unchanged=0 rejected=0 conflicts=1" in r.stdout
    # Every alpha entry changes; one now claims beta's address.
    a.write_text("".join(entry(f"p{i}", f"a-{i}", [f"p{i}@gouv.fr"], "title: T") for i in range(n - 1)) +
                 entry("q", f"a-{n - 1}", ["y@gouv.fr"]))
    b.write_text(entry("y", "b-y", ["y@gouv.fr"]) + entry("z", "b-z", ["other@gouv.fr"]))
    r = env.sync("--source", "beta")
    assert "conflicts=0" in r.stdout, r.stdout
    r = env.sync("--source", "alpha")
    assert f"alpha: success (full) added=0 changed={n} removed=0 unchanged=0 rejected=0 conflicts=1" in r.stdout, \
        r.stdout + r.stderr
    report = env.sql("SELECT report::text FROM annuaire.sync_runs WHERE source = 'alpha' ORDER BY id DESC LIMIT 1")
    assert "y@gouv.fr" in report and "other@gouv.fr" not in report
    assert env.sql("SELECT source FROM annuaire.directory_addresses WHERE address = 'y@gouv.fr'") == "beta"
    assert env.sql("SELECT count(*) FROM annuaire.directory_addresses") == str(n + 1)


def test_configuration_errors(cluster, tmp_path):
    bad = harness.Service(cluster, migrate=False,
                          config="sync:\n  sources:\n    - name: x\n      ministry: X\n      ldif: /a\n      ldpa: {}\n")
    r = subprocess.run([harness.BIN, "check-config", "-c", bad.config_path], capture_output=True, text=True)
    assert r.returncode == 1 and "sources[0].ldpa: unknown key" in r.stderr
    env = SyncEnv(cluster, tmp_path, source("culture", tmp_path / "none.ldif"))
    r = env.sync("--source", "nope")
    assert r.returncode == 1 and "no source named 'nope' in sync.sources (configured: culture)" in r.stderr


def test_ldifde_export(cluster, tmp_path):
    """Active Directory's ldifde writes "changetype: add" records and binary objectGUIDs."""
    path = tmp_path / "ad.ldif"
    path.write_text(
        "dn: CN=Jean Martin,OU=Agents,DC=interieur,DC=gouv,DC=fr\nchangetype: add\n"
        "objectClass: top\nobjectClass: person\nobjectClass: organizationalPerson\nobjectClass: user\n"
        "cn: Jean Martin\nmail: Jean.Martin@Interieur.gouv.fr\n"
        "proxyAddresses: SMTP:jean.martin@interieur.gouv.fr\nproxyAddresses: smtp:jm@interieur.gouv.fr\n"
        "userAccountControl: 514\nobjectGUID:: T+4rnB0qTDuOfwobLD1OXw==\n\n")
    env = SyncEnv(cluster, tmp_path, source("ad", path) + "      schema: ad\n")
    r = env.sync()
    assert r.returncode == 0 and "added=1" in r.stdout, r.stdout + r.stderr
    assert env.sql("SELECT key, mails, disabled FROM annuaire.directory_entries") == \
        "4fee2b9c1d2a4c3b8e7f0a1b2c3d4e5f|{jean.martin@interieur.gouv.fr,jm@interieur.gouv.fr}|t"
