"""it.sync.values: a value that is not UTF-8 text (or holds a NUL byte) rejects its entry
(named with its key and the attribute), and the rest of the source is applied, from an LDIF
export and from slapd; a rejected entry whose key was read keeps its stored row as it is,
and does not count toward a complete read; a record of over 256 attributes is rejected;
mails past the 64th of an attribute are reported, not dropped silently."""
import base64
import json
import uuid

import harness
import slapd
from slapd import SUFFIX, Slapd, person
from test_sync_ldap import ldap_source, people, sql
from test_sync_ldif import SyncEnv, entry

slapd.require()


def b64(data):
    return base64.b64encode(data).decode()


def last_report(query_env):
    return json.loads(query_env("SELECT report::text FROM annuaire.sync_runs ORDER BY id DESC LIMIT 1"))


def source(path):
    return f"    - name: culture\n      ministry: Culture\n      priority: 10\n      ldif: {path}\n"


def test_ldif_not_utf8(cluster, tmp_path):
    path = tmp_path / "culture.ldif"
    latin1 = "Hélène Durand".encode("latin-1")  # an export written in Latin-1
    cut = b64(b"Service \xc3")  # a multi-byte character cut short
    bad_dn = b64(b"uid=d\xff,ou=people,dc=culture,dc=gouv,dc=fr")
    path.write_text(
        entry("a", "u-a", ["a@culture.gouv.fr"]) +
        entry("b", "u-b", ["b@culture.gouv.fr"], f"displayName:: {b64(latin1)}") +
        entry("c", "u-c", ["c@culture.gouv.fr"], f"ou:: {cut}") +
        f"dn:: {bad_dn}\n"
        "objectClass: inetOrgPerson\nentryUUID: u-d\nmail: d@culture.gouv.fr\n\n" +
        entry("e", "u-e", ["e@culture.gouv.fr"]))
    env = SyncEnv(cluster, tmp_path, source(path))
    r = env.sync()
    assert r.returncode == 3, r.stdout + r.stderr
    assert "added=2 changed=0 removed=0 unchanged=0 rejected=3" in r.stdout
    assert env.sql("SELECT string_agg(key, ',' ORDER BY key) FROM annuaire.directory_entries") == "u-a,u-e"
    rejected = {item["key"]: item for item in last_report(env.sql) if "rejected" in item}
    assert rejected["u-b"]["attribute"] == "displayName"
    assert rejected["u-c"]["attribute"] == "ou"
    assert rejected["u-d"]["attribute"] == "dn"
    assert rejected["u-d"]["rejected"] == "uid=d\\xff,ou=people,dc=culture,dc=gouv,dc=fr"
    assert '"key":"u-b","attribute":"displayName"' in r.stderr
    # Fixed in the export: applied the next time (a second run goes through staging).
    path.write_text(path.read_text().replace(f"displayName:: {b64(latin1)}", "displayName: Hélène Durand"))
    r = env.sync()
    assert "added=1" in r.stdout and "rejected=2" in r.stdout, r.stdout + r.stderr
    assert env.sql("SELECT display_name FROM annuaire.directory_entries WHERE key = 'u-b'") == "Hélène Durand"


def test_ldif_values_past_the_limits(cluster, tmp_path):
    """Mails past the 64th of an attribute are left out and reported. A record of over 256
    attributes is rejected, not mapped from its first 256 (its key or its addresses may
    come after them), and its key, wherever it is, counts as present."""
    path = tmp_path / "culture.ldif"
    many_mails = [f"m{i}@culture.gouv.fr" for i in range(70)]
    path.write_text(entry("a", "u-a", many_mails) + entry("b", "u-b", ["b@culture.gouv.fr"]) +
                    entry("c", "u-c", ["c@culture.gouv.fr"]))
    env = SyncEnv(cluster, tmp_path, source(path))  # removals at once
    r = env.sync()
    assert r.returncode == 0 and "added=3" in r.stdout, r.stdout + r.stderr
    assert "warning: values left out" in r.stderr
    assert '"key":"u-a","values":["6 values of mail past the 64th"]' in r.stderr, r.stderr
    assert env.sql("SELECT cardinality(mails) FROM annuaire.directory_entries WHERE key = 'u-a'") == "64"
    assert env.sql("SELECT dropped FROM annuaire.sync_runs") == "1"
    # b grows past 256 attributes, its key and a new address after them.
    extra = "\n".join(f"x-extra{i}: v" for i in range(300))
    path.write_text(entry("a", "u-a", many_mails) +
                    f"dn: uid=b,ou=people,dc=culture,dc=gouv,dc=fr\nobjectClass: inetOrgPerson\n{extra}\n"
                    "uid: b\nentryUUID: u-b\nmail: b2@culture.gouv.fr\n\n" +
                    entry("c", "u-c", ["c@culture.gouv.fr"]))
    r = env.sync()
    assert r.returncode == 3, r.stdout + r.stderr
    assert "added=0 changed=0 removed=0 unchanged=3 rejected=1 conflicts=0 missing=0" in r.stdout, r.stdout
    rejected = [item for item in last_report(env.sql) if "rejected" in item]
    assert rejected == [{"rejected": "uid=b,ou=people,dc=culture,dc=gouv,dc=fr", "key": "u-b",
                         "attribute": None, "reason": "304 attributes, over the 256 a record may have"}]
    assert env.sql("SELECT mails, deleted_at IS NULL FROM annuaire.directory_entries WHERE key = 'u-b'") == \
        "{b@culture.gouv.fr}|t"


def test_rejected_entry_keeps_its_row(cluster, tmp_path):
    """An agent whose entry is rejected (a value that is not UTF-8, a NUL byte in a text
    value) is still there: its stored row is kept as it is, never missing nor removed."""
    path = tmp_path / "culture.ldif"
    agents = "".join(entry(f"a{i}", f"u-{i}", [f"a{i}@culture.gouv.fr"]) for i in range(20))
    path.write_text(agents + entry("h", "u-h", ["h@culture.gouv.fr"], "title: Chef") +
                    entry("n", "u-n", ["n@culture.gouv.fr"], "title: Adjoint"))
    one_run = "  removal_grace_runs: 1\n  removal_grace_seconds: 0\n"
    env = SyncEnv(cluster, tmp_path, source(path), grace=one_run)
    assert env.sync().returncode == 0
    before = env.sql("SELECT key, mails, title, content_hash FROM annuaire.directory_entries"
                     " WHERE key IN ('u-h', 'u-n') ORDER BY key")
    latin1 = b64("Chef d'équipe".encode("latin-1"))
    path.write_text(agents + entry("h", "u-h", ["h2@culture.gouv.fr"], f"title:: {latin1}") +
                    entry("n", "u-n", ["n@culture.gouv.fr"], f"title:: {b64(b'Adjoint' + bytes(1) + b'x')}"))
    for _ in range(3):  # past the grace
        r = env.sync()
        assert r.returncode == 3, r.stdout + r.stderr
        assert "added=0 changed=0 removed=0 unchanged=22 rejected=2 conflicts=0 missing=0" in r.stdout, r.stdout
    reasons = {item["key"]: item for item in last_report(env.sql) if "rejected" in item}
    assert reasons["u-h"]["attribute"] == "title" and reasons["u-n"]["attribute"] == "title", reasons
    assert "NUL" in reasons["u-n"]["reason"]
    assert env.sql("SELECT key, mails, title, content_hash FROM annuaire.directory_entries"
                   " WHERE key IN ('u-h', 'u-n') ORDER BY key") == before
    assert env.sql("SELECT count(*) FROM annuaire.directory_entries WHERE missing_since IS NOT NULL"
                   " OR deleted_at IS NOT NULL") == "0"


def test_every_entry_rejected_is_refused(cluster, tmp_path):
    """Rejected entries do not count toward a complete read: an export where every entry
    is rejected (written in Latin-1, say) reads none, and is refused."""
    path = tmp_path / "culture.ldif"
    path.write_text("".join(entry(f"a{i}", f"u-{i}", [f"a{i}@culture.gouv.fr"], "displayName: Hélène")
                            for i in range(20)))
    env = SyncEnv(cluster, tmp_path, source(path))
    assert env.sync().returncode == 0
    path.write_bytes(path.read_text().encode("latin-1"))
    r = env.sync()
    assert r.returncode == 4 and "read no entries, and the source has 20" in r.stderr, r.stdout + r.stderr
    assert env.sql("SELECT status, entries_read FROM annuaire.sync_runs ORDER BY id DESC LIMIT 1") == "refused|0"


def test_ldap_not_utf8_and_many_mails(cluster, tmp_path):
    """slapd refuses octets that are not UTF-8 in directoryString attributes (displayName,
    ou): the test maps title to audio, an octet string it stores as given."""
    latin1 = b64("Chef d'équipe".encode("latin-1"))
    bad = person("bad", str(uuid.UUID(int=2)), ["bad@agri.gouv.fr"], extra=f"audio:: {latin1}")
    good = person("good", str(uuid.UUID(int=1)), ["good@agri.gouv.fr"], extra="audio: Chef")
    many = person("many", str(uuid.UUID(int=3)), [f"many{i}@agri.gouv.fr" for i in range(66)])
    server = Slapd(good + bad + many)
    try:
        svc = harness.Service(cluster, config=ldap_source(
            server.url, tmp_path, source_extra="      attributes:\n        title: audio\n"))
        r = svc.run("sync")
        assert r.returncode == 3, r.stdout + r.stderr
        assert "added=2 changed=0 removed=0 unchanged=0 rejected=1" in r.stdout
        assert sql(svc, "SELECT title FROM annuaire.directory_entries WHERE key = "
                        f"'{uuid.UUID(int=1)}'") == "Chef"
        report = last_report(lambda q: sql(svc, q))
        rejected = [item for item in report if "rejected" in item]
        assert rejected == [{"rejected": f"uid=bad,ou=people,{SUFFIX}", "key": str(uuid.UUID(int=2)),
                             "attribute": "audio", "reason": "audio: a value that is not UTF-8 text (or holds a NUL byte)"}]
        assert f'"key":"{uuid.UUID(int=3)}","values":["2 values of mail past the 64th"]' in r.stderr
        assert sql(svc, "SELECT dropped, rejected FROM annuaire.sync_runs") == "1|1"
    finally:
        server.close()


def test_ldap_rejected_entry_keeps_its_row(cluster, tmp_path):
    """The same from slapd: an entry that gains a value that is not UTF-8 is rejected,
    and its stored row stays, past the grace."""
    server = Slapd(people(20))
    try:
        svc = harness.Service(cluster, config=ldap_source(
            server.url, tmp_path, grace="  removal_grace_runs: 1\n  removal_grace_seconds: 0\n",
            source_extra="      attributes:\n        title: audio\n"))
        assert svc.run("sync").returncode == 0
        server.modify(f"dn: uid=agent3,ou=people,{SUFFIX}\nchangetype: modify\nreplace: audio\n"
                      f"audio:: {b64(b'Chef' + bytes([0xe9]))}\n\n")
        for _ in range(3):
            r = svc.run("sync")
            assert r.returncode == 3 and "removed=0 unchanged=20 rejected=1 conflicts=0 missing=0" in r.stdout, \
                r.stdout + r.stderr
        assert sql(svc, "SELECT key FROM annuaire.directory_owner('agent3@agri.gouv.fr')") == str(uuid.UUID(int=4))
    finally:
        server.close()
