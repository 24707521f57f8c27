"""it.sync.escapes: `sync --conflicts` and `sync --status` print text from LDAP (keys,
DNs) with its control characters escaped (C0 and DEL as \\xNN, C1 as \\u00NN, as
`annuaire audit` prints them): a key holding ESC, CR, LF and BEL (base64 in the LDIF)
cannot forge lines or drive the terminal."""
import base64

import harness
from test_sync_ldif import entry, source

EVIL = "\x1b[2J\x1b[31mFORGED\r\n  owner   source agri priority 1 key u-a0\x07\u0085"


def evil_entry(mail):
    key = base64.b64encode(EVIL.encode()).decode()
    dn = base64.b64encode(("uid=e1\x1b[0m,ou=people,dc=evil,dc=fr").encode()).decode()
    return (f"dn:: {dn}\nobjectClass: inetOrgPerson\nuid: e1\ncn: e1\nsn: e1\n"
            f"entryUUID:: {key}\nmail: {mail}\n\n")


def no_controls(text):
    bad = [c for c in text if (ord(c) < 0x20 and c != "\n") or 0x7f <= ord(c) < 0xa0]
    assert bad == [], repr(text)


def test_escaped(cluster, tmp_path):
    agri, evil = tmp_path / "agri.ldif", tmp_path / "evil.ldif"
    agri.write_text("".join(entry(f"a{i}", f"u-a{i}", [f"a{i}@agri.gouv.fr"]) for i in range(20)))
    evil.write_text(evil_entry("a0@agri.gouv.fr") + entry("x", "u-x", ["x@evil.fr"]))
    grace = "  removal_grace_runs: 5\n  removal_grace_seconds: 0\n"
    svc = harness.Service(cluster, config="sync:\n" + grace + "  sources:\n" + source("agri", agri, 1) +
                          source("evil", evil, 2))
    r = svc.run("sync")
    assert r.returncode == 0, r.stdout + r.stderr

    r = svc.run("sync", "--conflicts")
    assert r.returncode == 0, r.stderr
    no_controls(r.stdout)
    lines = r.stdout.splitlines()
    assert lines[:2] == ["a0@agri.gouv.fr", "  owner   source agri priority 1 key u-a0"], lines
    assert lines[2] == ("  claimed source evil priority 2 key \\x1b[2J\\x1b[31mFORGED\\x0d\\x0a"
                        "  owner   source agri priority 1 key u-a0\\x07\\u0085"), lines
    assert len(lines) == 4, lines

    # The entry gone from the export: pending removal, listed by --status.
    evil.write_text(entry("x", "u-x", ["x@evil.fr"]))
    r = svc.run("sync", "--allow-mass-delete")
    assert r.returncode == 0, r.stdout + r.stderr
    r = svc.run("sync", "--status")
    assert r.returncode == 0, r.stderr
    no_controls(r.stdout)
    assert ("    uid=e1\\x1b[0m,ou=people,dc=evil,dc=fr (key \\x1b[2J\\x1b[31mFORGED\\x0d\\x0a"
            "  owner   source agri priority 1 key u-a0\\x07\\u0085): missing since ") in r.stdout, r.stdout
