"""it.sync.polling: change polling for directories without RFC 4533 (Active Directory's
uSNChanged; modifyTimestamp here): the first run is full and stores the mark; then only
entries changed since the mark (less an overlap) are read; deletions wait for a full run,
forced by --full or due after ldap.full_every_hours."""


import harness
import slapd
from slapd import SUFFIX, Slapd
from test_sync_ldap import ldap_source, people, sql

slapd.require()


def test_polling(cluster, tmp_path):
    server = Slapd(people(30))
    try:
        svc = harness.Service(cluster, config=ldap_source(
            server.url, tmp_path, tls="        poll_attribute: modifyTimestamp\n        poll_overlap: 5\n"))
        r = svc.run("sync")
        assert "agri: success (full) added=30" in r.stdout, r.stdout + r.stderr
        mark = sql(svc, "SELECT cookie FROM annuaire.sync_sources")
        assert mark.startswith("mark:") and len(mark) == 20 and mark.endswith("Z")

        server.modify(f"dn: uid=agent5,ou=people,{SUFFIX}\nchangetype: modify\nreplace: mail\n"
                      "mail: agent5.new@agri.gouv.fr\n\n"
                      f"dn: uid=late,ou=people,{SUFFIX}\nchangetype: add\nobjectClass: inetOrgPerson\n"
                      "uid: late\ncn: Late\nsn: Late\nmail: late@agri.gouv.fr\n\n"
                      f"dn: uid=agent6,ou=people,{SUFFIX}\nchangetype: delete\n\n")
        r = svc.run("sync")
        # Only the changes are read; the deletion is not visible to polling.
        assert "agri: success (incremental) added=1 changed=1 removed=0 unchanged=29" in r.stdout, \
            r.stdout + r.stderr
        assert sql(svc, "SELECT cookie FROM annuaire.sync_sources") >= mark

        r = svc.run("sync", "--full")
        assert "agri: success (full) added=0 changed=0 removed=1 unchanged=30" in r.stdout, r.stdout

        # A full read is due again after full_every_hours (24 by default).
        server.modify(f"dn: uid=agent7,ou=people,{SUFFIX}\nchangetype: delete\n\n")
        assert "(incremental)" in svc.run("sync").stdout
        svc.cluster.psql("UPDATE annuaire.sync_sources SET last_full_at = now() - interval '25 hours'",
                         db=svc.db)
        r = svc.run("sync")
        assert "agri: success (full) added=0 changed=0 removed=1" in r.stdout, r.stdout
    finally:
        server.close()


def test_switching_between_polling_and_content_sync(cluster, tmp_path):
    """A mark is no cookie, and a cookie no mark: the first run after a switch reads
    everything, and deletions made meanwhile are seen. Both at once is refused."""
    server = Slapd(people(20))
    try:
        polling = "        poll_attribute: modifyTimestamp\n"
        content = "        content_sync: true\n"
        svc = harness.Service(cluster, config=ldap_source(server.url, tmp_path, tls=polling))
        assert "added=20" in svc.run("sync").stdout
        server.modify(f"dn: uid=agent3,ou=people,{SUFFIX}\nchangetype: delete\n\n")
        svc.write_config(ldap_source(server.url, tmp_path, tls=content))
        r = svc.run("sync")
        assert "agri: success (full) added=0 changed=0 removed=1 unchanged=19" in r.stdout, \
            r.stdout + r.stderr
        assert sql(svc, "SELECT cookie FROM annuaire.sync_sources").startswith("sync:")
        server.modify(f"dn: uid=agent4,ou=people,{SUFFIX}\nchangetype: delete\n\n")
        svc.write_config(ldap_source(server.url, tmp_path, tls=polling))
        r = svc.run("sync")
        assert "agri: success (full) added=0 changed=0 removed=1 unchanged=18" in r.stdout, \
            r.stdout + r.stderr
        svc.write_config(ldap_source(server.url, tmp_path, tls=polling + content))
        r = svc.run("sync")
        assert r.returncode == 1 and "content_sync or poll_attribute, not both" in r.stderr
    finally:
        server.close()
