"""it.sync.contentsync: RFC 4533 refreshOnly against slapd's syncprov: the first run reads
everything and stores the cookie with the data; then add, modify, rename and delete read
as changes only; more deletes than the session log, and a slapd restart, make the server
use the present phase, and the entries it leaves out are removed (and only those)."""
import uuid


import harness
import slapd
from slapd import SUFFIX, Slapd
from test_sync_ldap import ldap_source, people, sql

slapd.require()


def delete(server, uids):
    server.modify("".join(f"dn: uid={u},ou=people,{SUFFIX}\nchangetype: delete\n\n" for u in uids))


def test_content_sync(cluster, tmp_path):
    server = Slapd(people(60), sessionlog=5)
    try:
        svc = harness.Service(cluster, config=ldap_source(server.url, tmp_path,
                                                          tls="        content_sync: true\n"))
        r = svc.run("sync")
        assert r.returncode == 0, r.stderr
        assert "agri: success (full) added=60" in r.stdout
        cookie = sql(svc, "SELECT cookie FROM annuaire.sync_sources")
        assert cookie.startswith("rid=") or "csn=" in cookie

        # Nothing changed: an incremental run reads nothing and changes nothing.
        r = svc.run("sync")
        assert "agri: success (incremental) added=0 changed=0 removed=0 unchanged=60" in r.stdout, r.stdout

        server.modify(
            f"dn: uid=new1,ou=people,{SUFFIX}\nchangetype: add\nobjectClass: inetOrgPerson\n"
            "uid: new1\ncn: New\nsn: New\nmail: new1@agri.gouv.fr\n\n"
            f"dn: uid=agent1,ou=people,{SUFFIX}\nchangetype: modify\nreplace: mail\n"
            "mail: agent1.b@agri.gouv.fr\n\n"
            f"dn: uid=agent2,ou=people,{SUFFIX}\nchangetype: modrdn\nnewrdn: uid=agent2b\ndeleteoldrdn: 1\n\n")
        delete(server, ["agent3"])
        r = svc.run("sync")
        assert "agri: success (incremental) added=1 changed=2 removed=1 unchanged=57" in r.stdout, \
            r.stdout + r.stderr
        assert sql(svc, f"SELECT dn FROM annuaire.directory_entries WHERE key = '{uuid.UUID(int=3)}'") == \
            f"uid=agent2b,ou=people,{SUFFIX}"
        assert sql(svc, f"SELECT deleted_at IS NOT NULL FROM annuaire.directory_entries"
                        f" WHERE key = '{uuid.UUID(int=4)}'") == "t"

        # More deletes than the session log holds: the server falls back to the present phase.
        delete(server, [f"agent{i}" for i in range(10, 15)] + ["agent16"])
        r = svc.run("sync", "--allow-mass-delete")
        assert "agri: success (incremental) added=0 changed=0 removed=6 unchanged=54" in r.stdout, \
            r.stdout + r.stderr

        # After a restart the session log is empty: present phase again.
        server.stop()
        server.start()
        delete(server, ["agent20"])
        r = svc.run("sync")
        assert "agri: success (incremental) added=0 changed=0 removed=1 unchanged=53" in r.stdout, \
            r.stdout + r.stderr
        live = sql(svc, "SELECT count(*) FROM annuaire.directory_entries WHERE deleted_at IS NULL")
        assert live == "53"

        # A dry run stores no cookie; --full reads everything again.
        before = sql(svc, "SELECT cookie FROM annuaire.sync_sources")
        delete(server, ["agent21"])
        r = svc.run("sync", "--dry-run")
        assert "(dry-run) added=0 changed=0 removed=1" in r.stdout
        assert sql(svc, "SELECT cookie FROM annuaire.sync_sources") == before
        r = svc.run("sync", "--full")
        assert "agri: success (full) added=0 changed=0 removed=1 unchanged=52" in r.stdout, r.stdout + r.stderr
    finally:
        server.close()
