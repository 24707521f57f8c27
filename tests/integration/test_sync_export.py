"""it.sync.export: an operator's bad LDIF export loses no agent. URL values (attr:< file:///...)
and include: lines refuse the file before anything is opened; an export cut at a record
boundary only makes the absent entries "missing" (still agents, shown as pending removal),
and a good export brings them all back; a record cut in the middle is rejected and its key
kept; min_entries and max_shrink refuse a short export; an absence that lasts past the
grace is a removal."""
import os

import harness
from test_sync_ldif import IMMEDIATE, SyncEnv, entry

N = 2000


def agents(n, start=0):
    return "".join(entry(f"a{i}", f"u-{i}", [f"a{i}@culture.gouv.fr"]) for i in range(start, n))


def source(path, extra=""):
    return (f"    - name: culture\n      ministry: \"Ministère de la Culture\"\n      priority: 10\n"
            f"      ldif: {path}\n{extra}")


def live(env):
    return env.sql("SELECT count(*) FROM annuaire.directory_entries WHERE deleted_at IS NULL")


def removed(env):
    return env.sql("SELECT count(*) FROM annuaire.directory_entries WHERE deleted_at IS NOT NULL")


def test_url_values_refused(cluster, tmp_path):
    """libldap's parser reads the file an "attr:< file:///..." value names: the export is
    refused, naming the file, the line and the attribute, before any file is opened."""
    secret = tmp_path / "bind-password"
    secret.write_text("s3cr3t-b1nd-passw0rd\n")
    path = tmp_path / "culture.ldif"
    env = SyncEnv(cluster, tmp_path, source(path), grace="")
    good = entry("a", "u-a", ["a@culture.gouv.fr"])
    cases = [
        ("ou", entry("b", "u-b", ["b@culture.gouv.fr"], f"ou:< file://{secret}")),
        ("displayName", entry("b", "u-b", ["b@culture.gouv.fr"], f"displayName:<file://{secret}")),
        # Folded inside the attribute name, and between the colon and the '<'.
        ("ou", entry("b", "u-b", ["b@culture.gouv.fr"], f"o\n u:\n < file://{secret}")),
        # Any scheme: libldap would fetch some itself.
        ("title", entry("b", "u-b", ["b@culture.gouv.fr"], "title:< http://127.0.0.1:9/x")),
    ]
    for attr, bad in cases:
        path.write_text(good + bad)
        r = env.sync()
        assert r.returncode == 1, (attr, r.stdout, r.stderr)
        # good is 8 lines; the value follows the 7 lines of the second entry.
        assert f"{path}:16: {attr}: a URL value" in r.stderr, (attr, r.stderr)
        assert "nothing changed" in r.stderr
    # libldap's include: lines open another file too.
    include = tmp_path / "other.ldif"
    include.write_text(entry("c", "u-c", ["c@culture.gouv.fr"]))
    path.write_text(good + f"include: file://{include}\n\n")
    r = env.sync()
    assert r.returncode == 1 and f"{path}:9: include: lines are not accepted" in r.stderr, r.stderr
    # Nothing of the file reached the database, nor anything at all.
    assert env.sql("SELECT count(*) FROM annuaire.directory_entries e WHERE e::text LIKE '%s3cr3t%'") == "0"
    assert env.sql("SELECT count(*) FROM annuaire.directory_entries") == "0"
    assert env.sql("SELECT count(*) FROM annuaire.sync_runs WHERE report::text LIKE '%s3cr3t%'"
                   " OR error LIKE '%s3cr3t%'") == "0"
    assert env.sql("SELECT count(*) FROM annuaire.sync_runs WHERE status = 'failed'") == "5"
    # A plain value that starts with '<' is a value.
    path.write_text(good + entry("b", "u-b", ["b@culture.gouv.fr"], "title: <b>Chef</b>"))
    assert env.sync().returncode == 0
    assert env.sql("SELECT title FROM annuaire.directory_entries WHERE key = 'u-b'") == "<b>Chef</b>"


def test_cut_at_a_record_boundary_loses_nobody(cluster, tmp_path):
    """A 95% export (cut at a record boundary, still a valid file) only makes the other 5%
    missing: still agents, pending removal; the next good export brings them back."""
    path = tmp_path / "culture.ldif"
    path.write_text(agents(N))
    env = SyncEnv(cluster, tmp_path, source(path), grace="")  # the default grace
    assert env.sync().returncode == 0
    path.write_text(agents(N * 95 // 100))
    r = env.sync()
    assert r.returncode == 0, r.stdout + r.stderr
    assert "removed=0 unchanged=1900 rejected=0 conflicts=0 missing=100" in r.stdout, r.stdout
    assert removed(env) == "0" and live(env) == str(N)
    # Still an agent: the owner of its address.
    assert env.sql("SELECT key FROM annuaire.directory_owner('a1999@culture.gouv.fr')") == "u-1999"
    assert env.sql("SELECT count(*) FROM annuaire.directory_addresses") == str(N)
    # The run record and --status name the pending removals.
    assert env.sql("SELECT missing, entries_read FROM annuaire.sync_runs ORDER BY id DESC LIMIT 1") == \
        "100|1900"
    assert "uid=a1999,ou=people" in env.sql(
        "SELECT report::text FROM annuaire.sync_runs ORDER BY id DESC LIMIT 1")
    status = env.sync("--status").stdout
    assert "missing=100" in status and "100 entries pending removal" in status, status
    assert "uid=a1900,ou=people,dc=culture,dc=gouv,dc=fr (key u-1900): missing since" in status
    # The same short export again, within the grace (an hour by default): still nobody.
    r = env.sync()
    assert "removed=0" in r.stdout and "missing=100" in r.stdout, r.stdout
    # The good export: everyone back, nobody was ever removed.
    path.write_text(agents(N))
    r = env.sync()
    assert r.returncode == 0 and "added=0 changed=0 removed=0 unchanged=2000 rejected=0 conflicts=0 missing=0" \
        in r.stdout, r.stdout
    assert env.sql("SELECT count(*) FROM annuaire.directory_entries WHERE missing_since IS NOT NULL"
                   " OR missing_runs <> 0 OR deleted_at IS NOT NULL") == "0"
    assert env.sql("SELECT sum(removed) FROM annuaire.sync_runs") == "0"
    assert "pending removal" not in env.sync("--status").stdout


def test_cut_inside_a_record(cluster, tmp_path):
    """A record the file ends inside (no blank line after it) is rejected, never taken as
    the entry, and its key, when it was read, counts as present: that entry is not
    removed, nor changed. A cut export is no complete read: nobody else goes missing."""
    path = tmp_path / "culture.ldif"
    full = agents(N)
    path.write_text(full)
    env = SyncEnv(cluster, tmp_path, source(path))  # removals at once: no grace to hide behind
    assert env.sync().returncode == 0
    # Cut at a line break inside the last record, after its key and its address: the
    # last line may lack its folded continuation, so it is not read either.
    after = full.index("mail: a1999@")
    path.write_text(full[: full.index("\n", after) + 1])
    r = env.sync()
    assert r.returncode == 3, r.stdout + r.stderr
    assert "added=0 changed=0 removed=0 unchanged=2000 rejected=1" in r.stdout, r.stdout
    assert "the file ends inside this record" in r.stderr and "u-1999" in r.stderr
    assert env.sql("SELECT mails FROM annuaire.directory_entries WHERE key = 'u-1999'") == \
        "{a1999@culture.gouv.fr}"
    # Cut in the middle of a line (no final line break), inside the address.
    path.write_text(full[: after + 10])
    r = env.sync()
    assert r.returncode == 3 and "removed=0 unchanged=2000 rejected=1" in r.stdout, r.stdout + r.stderr
    # Cut in the middle of the key: that key is not readable, but the read is not a
    # complete one: the entry is not missing, and stays as it is.
    env2 = SyncEnv(cluster, tmp_path, source(path), grace="")
    path.write_text(full)
    assert env2.sync().returncode == 0
    path.write_text(full[: full.index("entryUUID: u-1999") + 14])
    r = env2.sync()
    assert r.returncode == 3 and "removed=0 unchanged=2000 rejected=1 conflicts=0 missing=0" in r.stdout, \
        r.stdout + r.stderr
    assert env2.sql("SELECT count(*) FROM annuaire.directory_entries WHERE missing_since IS NOT NULL") == "0"
    # A last record that lacks its blank line is cut too: ldapsearch and slapcat end
    # every record with one.
    path.write_text(full.rstrip("\n") + "\n")
    r = env2.sync()
    assert r.returncode == 3 and "removed=0 unchanged=2000 rejected=1 conflicts=0 missing=0" in r.stdout, \
        r.stdout + r.stderr
    assert "u-1999" in r.stderr
    # A file cut in the middle of a line but at the end of a record: that record is rejected.
    path.write_text(full.rstrip("\n"))
    r = env2.sync()
    assert r.returncode == 3 and "rejected=1" in r.stdout and "removed=0" in r.stdout, r.stdout
    # The whole export again: a complete read.
    path.write_text(full)
    r = env2.sync()
    assert r.returncode == 0 and "unchanged=2000 rejected=0 conflicts=0 missing=0" in r.stdout, r.stdout


def test_min_entries_and_max_shrink(cluster, tmp_path):
    path = tmp_path / "culture.ldif"
    path.write_text(agents(N))
    env = SyncEnv(cluster, tmp_path, source(path, "      min_entries: 1950\n      max_shrink: 2\n"))
    assert env.sync().returncode == 0
    before = env.sql("SELECT key, content_hash, missing_since FROM annuaire.directory_entries ORDER BY key")
    # Fewer than min_entries: refused, nothing applied, recorded with the reason.
    path.write_text(agents(1900))
    r = env.sync()
    assert r.returncode == 4, r.stdout + r.stderr
    assert "read 1900 entries, fewer than min_entries (1950)" in r.stderr
    assert env.sql("SELECT status, entries_read, error LIKE '%min_entries%' FROM annuaire.sync_runs"
                   " ORDER BY id DESC LIMIT 1") == "refused|1900|t"
    # Above min_entries, but 2.5% fewer than the 2,000 of the last complete read.
    path.write_text(agents(1950))
    r = env.sync()
    assert r.returncode == 4 and "over 2% fewer than the 2000 of the last complete read" in r.stderr, r.stderr
    assert env.sql("SELECT key, content_hash, missing_since FROM annuaire.directory_entries ORDER BY key") \
        == before
    # A dry run says so too, and records nothing.
    runs = env.sql("SELECT count(*) FROM annuaire.sync_runs")
    assert env.sync("--dry-run").returncode == 4
    assert env.sql("SELECT count(*) FROM annuaire.sync_runs") == runs
    # Within both: applied (and the 1,990 become the new reference).
    path.write_text(agents(1990))
    r = env.sync()
    assert r.returncode == 0 and "removed=10" in r.stdout, r.stdout + r.stderr
    assert env.sql("SELECT last_read FROM annuaire.sync_sources") == "1990"
    # The operator who knows the directory shrank goes ahead.
    path.write_text(agents(1940))
    assert env.sync().returncode == 4
    r = env.sync("--allow-mass-delete")
    assert r.returncode == 0 and "removed=50" in r.stdout, r.stdout


def test_absence_past_the_grace_is_a_removal(cluster, tmp_path):
    path = tmp_path / "culture.ldif"
    path.write_text(agents(N))
    one_run = "  removal_grace_runs: 1\n  removal_grace_seconds: 0\n"
    env = SyncEnv(cluster, tmp_path, source(path), grace=one_run)
    assert env.sync().returncode == 0
    short = agents(1900)
    path.write_text(short)
    assert "removed=0 unchanged=1900 rejected=0 conflicts=0 missing=100" in env.sync().stdout
    # a1950 comes back for one run: its count starts again.
    path.write_text(short + entry("a1950", "u-1950", ["a1950@culture.gouv.fr"]))
    assert "removed=99 unchanged=1901 rejected=0 conflicts=0 missing=0" in env.sync().stdout
    assert env.sql("SELECT deleted_at IS NULL, missing_since IS NULL FROM annuaire.directory_entries"
                   " WHERE key = 'u-1950'") == "t|t"
    assert env.sql("SELECT count(*) FROM annuaire.directory_owner('a1999@culture.gouv.fr')") == "0"
    path.write_text(short)
    assert "removed=0 unchanged=1900 rejected=0 conflicts=0 missing=1" in env.sync().stdout
    assert "removed=1 " in env.sync().stdout
    assert removed(env) == "100" and live(env) == "1900"


def test_grace_in_time(cluster, tmp_path):
    """The default grace: a later run at least an hour after the entry went missing.
    (The hour is passed by moving missing_since back, not by waiting.)"""
    path = tmp_path / "culture.ldif"
    path.write_text(agents(20))
    env = SyncEnv(cluster, tmp_path, source(path), grace="")
    assert env.sync().returncode == 0
    path.write_text(agents(19))
    assert "missing=1" in env.sync().stdout
    assert "removed=0" in env.sync().stdout  # the next run, within the hour
    env.sql("UPDATE annuaire.directory_entries SET missing_since = missing_since - interval '61 minutes'")
    r = env.sync()
    assert "removed=1 unchanged=19 rejected=0 conflicts=0 missing=0" in r.stdout, r.stdout
    # A source's own grace: none at all.
    path2 = tmp_path / "other.ldif"
    path2.write_text(agents(20))
    env2 = SyncEnv(cluster, tmp_path, source(path2, "      removal_grace_runs: 0\n"
                                                    "      removal_grace_seconds: 0\n"), grace="")
    assert env2.sync().returncode == 0
    path2.write_text(agents(19))
    assert "removed=1 unchanged=19 rejected=0 conflicts=0 missing=0" in env2.sync().stdout


def test_missing_on_metrics(cluster, tmp_path):
    path = tmp_path / "culture.ldif"
    path.write_text(agents(20))
    env = SyncEnv(cluster, tmp_path, source(path), grace="")
    assert env.sync().returncode == 0
    path.write_text(agents(19))
    assert "missing=1" in env.sync().stdout
    with env.svc:
        import requests
        from harness import metric
        text = requests.get(env.svc.url("/metrics")).text
        assert metric(text, "annuaire_sync_last_run_entries", source="culture", kind="missing") == 1
        assert metric(text, "annuaire_sync_entries", source="culture") == 20


def test_exports_as_tools_write_them(cluster, tmp_path):
    """The reader reads lines itself: what slapcat, ldapsearch and ldifde write still reads
    the same (version line, comments, folded lines, CRLF, a byte-order mark, a comment
    after the last record)."""
    path = tmp_path / "culture.ldif"
    env = SyncEnv(cluster, tmp_path, source(path))
    a, b = entry("a", "u-a", ["a@culture.gouv.fr"]), entry("b", "u-b", ["b@culture.gouv.fr"])
    folded = ("dn: uid=c,ou=people,dc=culture,dc=gouv,dc=fr\nobjectClass: inetOrgPerson\n"
              "# a comment inside a record\n#  folded\nentryUUID: u-c\ndisplayName: Jean-Ch\n arles Dupont\n"
              "mail: c@cul\n ture.gouv.fr\n\n")
    for text in ("version: 1\n\n" + a + b + folded,
                 "version: 1\n" + a + b + folded,
                 "# extended LDIF\n#\n# LDAPv3\n\n" + a + "# search result\n" + b + folded +
                 "# numEntries: 3\n",
                 (a + b + folded).replace("\n", "\r\n"),
                 "\ufeff" + a + b + folded,  # a UTF-8 byte-order mark
                 "\n\n" + a + "\n\n\n" + b + folded + "\n\n",
                 a + b + folded + "# a last comment\n"):
        path.write_text(text)
        r = env.sync()
        assert r.returncode == 0, (text, r.stdout, r.stderr)
        assert env.sql("SELECT string_agg(key || '=' || (display_name IS NOT NULL)::text || array_to_string(mails, ','),"
                       " ' ' ORDER BY key) FROM annuaire.directory_entries WHERE deleted_at IS NULL") == \
            "u-a=falsea@culture.gouv.fr u-b=falseb@culture.gouv.fr u-c=truec@culture.gouv.fr", text
    assert env.sql("SELECT display_name FROM annuaire.directory_entries WHERE key = 'u-c'") == "Jean-Charles Dupont"
    # A last comment without a line break: the file was cut (in a line, after the record).
    path.write_text(a + b + folded + "# a last comment without a line break")
    r = env.sync()
    assert r.returncode == 3 and "rejected=1" in r.stdout and "the file ends here" in r.stderr, r.stdout
    # An empty file is no export.
    path.write_text("")
    assert env.sync().returncode == 1
