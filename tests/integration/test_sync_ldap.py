"""it.sync.ldap: a real slapd on 127.0.0.1: a paged full sync, then add, modify, rename
(modrdn) and delete and another run; paging past the server's size limit; slapd killed in
the middle of a paged read (nothing changes, the next run succeeds); a server that never
answers (timeout, no hang); wrong credentials."""
import socket
import threading
import time
import uuid


import harness
import slapd
from slapd import SUFFIX, Slapd, person

slapd.require()


# Removals at once, as before sync.removal_grace: these tests are about reading. (The
# grace itself: test_sync_grace.py.)
IMMEDIATE = "  removal_grace_runs: 0\n  removal_grace_seconds: 0\n"


def ldap_source(url, tmp_path, anonymous=False, page_size=2, timeout=10, password="secret", tls="",
                grace=IMMEDIATE, source_extra=""):
    pw = tmp_path / "ldap-password"
    pw.write_text(password + "\n")
    auth = "" if anonymous else (f"        bind_dn: \"{slapd.ADMIN}\"\n"
                                 f"        bind_password_file: {pw}\n")
    return ("sync:\n" + grace + "  sources:\n    - name: agri\n      ministry: \"Ministère de l'Agriculture\"\n"
            "      priority: 10\n" + source_extra + "      ldap:\n"
            f"        urls: [\"{url}\"]\n{auth}{tls}"
            f"        base_dns: [\"ou=people,{SUFFIX}\"]\n"
            "        filter: \"(objectClass=inetOrgPerson)\"\n"
            f"        page_size: {page_size}\n        connect_timeout: 2\n        timeout: {timeout}\n")


def people(n, prefix="agent"):
    return "".join(person(f"{prefix}{i}", str(uuid.UUID(int=i + 1)), [f"{prefix}{i}@agri.gouv.fr"])
                   for i in range(n))


def sql(svc, query):
    return svc.cluster.psql(query, db=svc.db).strip()


def test_full_then_changes(cluster, tmp_path):
    server = Slapd(people(20))
    try:
        svc = harness.Service(cluster, config=ldap_source(server.url, tmp_path))
        r = svc.run("sync")
        assert r.returncode == 0, r.stderr
        assert "agri: success (full) added=20 changed=0 removed=0 unchanged=0" in r.stdout
        server.modify(
            f"dn: uid=new1,ou=people,{SUFFIX}\nchangetype: add\nobjectClass: inetOrgPerson\n"
            "uid: new1\ncn: New One\nsn: One\nmail: new1@agri.gouv.fr\n\n"
            f"dn: uid=agent1,ou=people,{SUFFIX}\nchangetype: modify\nreplace: mail\n"
            "mail: agent1.renamed@agri.gouv.fr\n\n"
            f"dn: uid=agent2,ou=people,{SUFFIX}\nchangetype: modrdn\nnewrdn: uid=agent2bis\n"
            "deleteoldrdn: 1\n\n"
            f"dn: uid=agent3,ou=people,{SUFFIX}\nchangetype: delete\n")
        r = svc.run("sync")
        assert "agri: success (full) added=1 changed=2 removed=1 unchanged=17" in r.stdout, r.stdout + r.stderr
        # The rename kept its key (entryUUID): a change, not a delete and an add.
        assert sql(svc, f"SELECT dn FROM annuaire.directory_entries WHERE key = '{uuid.UUID(int=3)}'") == \
            f"uid=agent2bis,ou=people,{SUFFIX}"
        assert sql(svc, "SELECT source FROM annuaire.directory_addresses"
                        " WHERE address = 'agent1.renamed@agri.gouv.fr'") == "agri"
        assert sql(svc, "SELECT count(*) FROM annuaire.directory_addresses"
                        " WHERE address = 'agent1@agri.gouv.fr'") == "0"
    finally:
        server.close()


def test_paging_past_the_size_limit(cluster, tmp_path):
    server = Slapd(people(600))  # anonymous clients get 500 at most per search
    try:
        svc = harness.Service(cluster, config=ldap_source(server.url, tmp_path, anonymous=True,
                                                          page_size=100))
        r = svc.run("sync")
        assert r.returncode == 0, r.stderr
        assert "added=600" in r.stdout
    finally:
        server.close()


def test_server_killed_mid_read(cluster, tmp_path):
    server = Slapd(people(20000))
    try:
        svc = harness.Service(cluster, config=ldap_source(server.url, tmp_path, page_size=1))
        before = sql(svc, "SELECT count(*) FROM annuaire.directory_entries")
        import subprocess
        proc = subprocess.Popen([harness.BIN, "sync", "-c", svc.config_path], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)  # 20,000 pages of one entry: well inside the read
        server.stop(__import__("signal").SIGKILL)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 1, out + err
        assert "failed, nothing changed" in err
        assert sql(svc, "SELECT count(*) FROM annuaire.directory_entries") == before
        server.start()
        r = svc.run("sync")
        assert r.returncode == 0 and "added=20000" in r.stdout, r.stderr
    finally:
        server.close()


def test_server_that_never_answers(cluster, tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held = []
    threading.Thread(target=lambda: held.append(listener.accept()), daemon=True).start()
    try:
        svc = harness.Service(cluster, config=ldap_source(f"ldap://127.0.0.1:{listener.getsockname()[1]}",
                                                          tmp_path, timeout=1))
        t0 = time.monotonic()
        r = svc.run("sync")
        assert r.returncode == 1
        assert time.monotonic() - t0 < 20
        assert "failed, nothing changed" in r.stderr
    finally:
        listener.close()


def test_wrong_password(cluster, tmp_path):
    server = Slapd(people(2))
    try:
        svc = harness.Service(cluster, config=ldap_source(server.url, tmp_path, password="wrong"))
        r = svc.run("sync")
        assert r.returncode == 1
        assert "Invalid credentials" in r.stderr
        assert "wrong" not in r.stderr  # never the password
        assert sql(svc, "SELECT status FROM annuaire.sync_runs") == "failed"
    finally:
        server.close()


def test_starttls_and_ldaps(cluster, tmp_path):
    server = Slapd(people(3), tls=True)
    try:
        for url, extra in ((server.url, "        starttls: true\n"), (server.ldaps_url, "")):
            svc = harness.Service(cluster, config=ldap_source(
                url, tmp_path, tls=extra + f"        ca_file: {server.ca_file}\n"))
            r = svc.run("sync")
            assert r.returncode == 0, (url, r.stderr)
            assert "added=3" in r.stdout
        # Without the test CA, the server's certificate is refused: nothing read.
        other_ca = slapd.make_ca(str(tmp_path))
        svc = harness.Service(cluster, config=ldap_source(
            server.url, tmp_path, tls=f"        starttls: true\n        ca_file: {other_ca}\n"))
        r = svc.run("sync")
        assert r.returncode == 1 and "StartTLS failed" in r.stderr
    finally:
        server.close()
