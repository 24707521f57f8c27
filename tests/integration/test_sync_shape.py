"""it.sync.shape: what is not a whole LDIF export of entries never makes agents go. A file
cut inside a line or a record is no complete read (its entries applied, the cut record
rejected, nobody missing); a byte-order mark is skipped; change records, NUL bytes, stray
carriage returns and UTF-16 refuse the file (file:line, nothing applied); an export of no
entries, or one that would mark over sync.max_delete_percent of a source missing, is
refused; line numbers count comment lines."""
import harness
from test_sync_ldif import SyncEnv, entry

ONE_RUN = "  removal_grace_runs: 1\n  removal_grace_seconds: 0\n"
DN = "dc=culture,dc=gouv,dc=fr"


def agents(n, start=0):
    return "".join(entry(f"a{i}", f"u-{i}", [f"a{i}@culture.gouv.fr"]) for i in range(start, n))


def prepare(cluster, tmp_path, first, extra="", grace=ONE_RUN):
    """A source whose first export (first) is applied; removals after one more read."""
    path = tmp_path / "culture.ldif"
    path.write_text(first)
    env = SyncEnv(cluster, tmp_path, f"    - name: culture\n      ministry: Culture\n      priority: 10\n"
                                     f"      ldif: {path}\n{extra}", grace=grace)
    r = env.sync()
    assert r.returncode == 0, r.stdout + r.stderr
    return env, path


def entries(env):
    """Every entry: key, addresses, title, live, missing (one string)."""
    return env.sql("SELECT string_agg(key || '=' || array_to_string(mails, ',') || '|' || coalesce(title, '')"
                   " || '|' || (deleted_at IS NULL)::text || (missing_since IS NULL)::text, ' ' ORDER BY key)"
                   " FROM annuaire.directory_entries")


def test_cut_mid_line_is_no_complete_read(cluster, tmp_path):
    """A killed writer leaves a file that ends inside a line: the entries before the cut
    are applied, the cut record rejected, and the tail is neither missing nor removed,
    however many runs read the cut file."""
    full = agents(2000)
    env, path = prepare(cluster, tmp_path, full)
    before = entries(env)
    path.write_text(full[: int(len(full) * 0.95)])
    for _ in range(2):
        r = env.sync()
        assert r.returncode == 3 and "removed=0 unchanged=2000 rejected=1 conflicts=0 missing=0" in r.stdout, \
            r.stdout + r.stderr
        assert "(a cut export)" in r.stderr
    assert entries(env) == before
    assert env.sql("SELECT entries_read IS NULL FROM annuaire.sync_runs ORDER BY id DESC LIMIT 1") == "t"


def test_cut_last_record(cluster, tmp_path):
    """Cut inside the last record: at a line break inside a folded address, inside a comment,
    after its first objectClass. The record is rejected, never stored truncated, and the
    entries missing before stay where they were in their grace."""
    last = (f"dn: uid=z,ou=people,{DN}\nobjectClass: top\nobjectClass: inetOrgPerson\nuid: z\n"
            "entryUUID: u-z\nmail: zoe.martin-dupont@culture.gou\n v.fr\n# written by X\n"
            "mail: z2@culture.gouv.fr\ntitle: Cheffe\n\n")
    env, path = prepare(cluster, tmp_path, agents(30) + last)
    path.write_text(agents(29) + last)  # a29 goes missing
    assert "missing=1" in env.sync().stdout
    before = entries(env)
    assert "u-z=zoe.martin-dupont@culture.gouv.fr,z2@culture.gouv.fr|Cheffe|truetrue" in before
    text = agents(29) + last
    for cut in (text.index(" v.fr"), text.index("by X"), text.index("objectClass: inetOrgPerson\nuid: z")):
        path.write_text(text[:cut])
        r = env.sync()
        assert r.returncode == 3, (cut, r.stdout, r.stderr)
        assert "added=0 changed=0 removed=0 unchanged=30 rejected=1 conflicts=0 missing=1" in r.stdout, r.stdout
        assert entries(env) == before, cut
    # The whole file again: a complete read, a29's first since it went missing.
    path.write_text(text)
    r = env.sync()
    assert "removed=1" in r.stdout and "rejected=0" in r.stdout, r.stdout


def test_byte_order_mark(cluster, tmp_path):
    env, path = prepare(cluster, tmp_path, agents(30))
    before = entries(env)
    path.write_bytes(b"\xef\xbb\xbf" + agents(30).encode())
    for _ in range(2):
        r = env.sync()
        assert r.returncode == 0 and "unchanged=30 rejected=0 conflicts=0 missing=0" in r.stdout, r.stdout
    assert entries(env) == before


def test_not_an_export_of_entries(cluster, tmp_path):
    """A change record, a record without a dn, control lines: the file is refused, naming
    the record's line, nothing applied. (ldifde's "changetype: add" records are entries.)"""
    env, path = prepare(cluster, tmp_path, agents(20))
    before = entries(env)
    head = agents(3)  # 24 lines
    for record in (f"dn: uid=a3,ou=people,{DN}\nchangetype: modify\nreplace: title\ntitle: C\n-\n\n",
                   f"dn: uid=a3,ou=people,{DN}\nchangetype: delete\n\n",
                   f"dn: uid=a3,ou=people,{DN}\nchangetype: moddn\nnewrdn: uid=b\ndeleteoldrdn: 1\n\n",
                   f"dn: uid=a3,ou=people,{DN}\ncontrol: 1.2.840.113556.1.4.805\nchangetype: delete\n\n",
                   "objectClass: inetOrgPerson\nuid: a3\nentryUUID: u-3\nmail: a3@culture.gouv.fr\n\n"):
        path.write_text(head + record + agents(20, 4))
        r = env.sync()
        assert r.returncode == 1, (record, r.stdout)
        assert f"{path}:25: not an export of entries" in r.stderr and "nothing changed" in r.stderr, r.stderr
        assert entries(env) == before
    path.write_text(head + f"dn: uid=a3,ou=people,{DN}\nchangetype: add\nobjectClass: inetOrgPerson\n"
                           "entryUUID: u-3\nmail: a3@culture.gouv.fr\n\n" + agents(20, 4))
    assert env.sync().returncode == 0


def test_bytes_that_are_not_ldif(cluster, tmp_path):
    """What libldap and the line reader would read differently refuses the file: a CR-only
    file, CR CR LF, a line holding only a CR, a NUL byte, UTF-16."""
    x, y = entry("x", "u-x", ["x@culture.gouv.fr"]), entry("y", "u-y", ["y@culture.gouv.fr"])
    good = agents(20) + x + y  # x starts at line 161, y at 169
    env, path = prepare(cluster, tmp_path, good)
    before = entries(env)
    cases = [
        (good.replace("\n", "\r").encode(), ":1: a carriage return"),
        (good.replace("\n", "\r\r\n").encode(), ":1: a carriage return"),
        ((agents(20) + x.replace("entryUUID: u-x\n", "entryUUID: u-x\n\r\n") + y).encode(),
         ":167: a carriage return"),
        ((agents(20) + x + y.replace("sn: y\n", "sn: y\x00\n")).encode(), ":173: a NUL byte"),
        (good.encode("utf-16"), ":1: a UTF-16 file"),
        (good.encode("utf-16-le"), ":1: a NUL byte"),
        (good.replace("\n", "\r\n").replace("\r\nsn: y", "\nsn: y").encode(), ":172: a line that ends in LF"),
    ]
    for data, what in cases:
        path.write_bytes(data)
        r = env.sync()
        assert r.returncode == 1 and f"{path}{what}" in r.stderr, (what, r.stdout, r.stderr)
        assert entries(env) == before


def test_no_entries(cluster, tmp_path):
    """A complete read of no entries, from a source that has some, is refused (exit 4)."""
    env, path = prepare(cluster, tmp_path, agents(20))
    before = entries(env)
    for text in ("version: 1\n", "# nothing\n", "\n\n\n", f"dn: ou=people,{DN}\nobjectClass: organizationalUnit\n\n"):
        path.write_text(text)
        r = env.sync()
        assert r.returncode == 4 and "read no entries, and the source has 20" in r.stderr, (text, r.stdout)
        assert entries(env) == before
    r = env.sync("--allow-mass-delete")
    assert r.returncode == 0 and "missing=20" in r.stdout, r.stdout


def test_missing_share(cluster, tmp_path):
    """sync.max_delete_percent bounds the entries a run marks missing, as it bounds removals."""
    env, path = prepare(cluster, tmp_path, agents(100))
    path.write_text(agents(85))
    r = env.sync()
    assert r.returncode == 4 and "would mark 15 of 100 entries missing (over 10%)" in r.stderr, r.stdout + r.stderr
    assert env.sql("SELECT count(*) FROM annuaire.directory_entries WHERE missing_since IS NOT NULL") == "0"
    path.write_text(agents(92))
    r = env.sync()
    assert r.returncode == 0 and "missing=8" in r.stdout, r.stdout


def test_max_shrink_without_last_read(cluster, tmp_path):
    """max_shrink compares with the live entries when no complete read was recorded (a
    source synchronised before last_read was)."""
    env, path = prepare(cluster, tmp_path, agents(40), extra="      max_shrink: 5\n")
    env.sql("UPDATE annuaire.sync_sources SET last_read = NULL")
    path.write_text(agents(37))
    r = env.sync()
    assert r.returncode == 4 and "over 5% fewer than the 40 of the last complete read" in r.stderr, r.stderr
    assert env.sql("SELECT count(*) FROM annuaire.directory_entries WHERE missing_since IS NOT NULL") == "0"


def test_url_line_counts_comments(cluster, tmp_path):
    env, path = prepare(cluster, tmp_path, agents(1))
    path.write_text("dn: uid=b,dc=x\n# one\n# two\n#  folded\n folded on\nobjectClass: inetOrgPerson\n"
                    "ou:< file:///etc/hostname\n\n")
    r = env.sync()
    assert r.returncode == 1 and f"{path}:7: ou: a URL value" in r.stderr, r.stderr
