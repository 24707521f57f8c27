"""it.sync.grace: with the default sync.removal_grace, from slapd: an entry absent from a
full read or from a content-sync present phase is missing (still an agent) until a complete
read past the grace still lacks it; a deletion the server lists (content sync's delete phase)
is applied at once: a live server saying "deleted" is trusted, an absence is not."""
import harness
import slapd
from slapd import SUFFIX, Slapd
from test_sync_contentsync import delete
from test_sync_ldap import ldap_source, people, sql

slapd.require()


def test_full_read(cluster, tmp_path):
    server = Slapd(people(20))
    try:
        svc = harness.Service(cluster, config=ldap_source(server.url, tmp_path, grace=""))
        assert svc.run("sync").returncode == 0
        delete(server, ["agent3"])
        r = svc.run("sync")
        assert "agri: success (full) added=0 changed=0 removed=0 unchanged=19 rejected=0 conflicts=0 missing=1" \
            in r.stdout, r.stdout + r.stderr
        assert sql(svc, "SELECT count(*) FROM annuaire.directory_owner('agent3@agri.gouv.fr')") == "1"
        assert "uid=agent3,ou=people" in svc.run("sync", "--status").stdout
        sql(svc, "UPDATE annuaire.directory_entries SET missing_since = now() - interval '2 hours'")
        r = svc.run("sync")
        assert "removed=1 unchanged=19 rejected=0 conflicts=0 missing=0" in r.stdout, r.stdout
        assert sql(svc, "SELECT count(*) FROM annuaire.directory_owner('agent3@agri.gouv.fr')") == "0"
    finally:
        server.close()


def test_content_sync(cluster, tmp_path):
    server = Slapd(people(70), sessionlog=5)
    try:
        svc = harness.Service(cluster, config=ldap_source(server.url, tmp_path, grace="",
                                                          tls="        content_sync: true\n"))
        assert "added=70" in svc.run("sync").stdout
        # Listed as deleted by the server (delete phase): removed at once.
        delete(server, ["agent3"])
        r = svc.run("sync")
        assert "agri: success (incremental) added=0 changed=0 removed=1 unchanged=69 rejected=0 conflicts=0 " \
            "missing=0" in r.stdout, r.stdout + r.stderr
        # More deletions than the session log holds: a present phase, where they are only
        # absent: missing, not removed.
        delete(server, [f"agent{i}" for i in range(10, 16)])
        r = svc.run("sync")
        assert "agri: success (incremental) added=0 changed=0 removed=0 unchanged=63 rejected=0 conflicts=0 " \
            "missing=6" in r.stdout, r.stdout + r.stderr
        assert sql(svc, "SELECT count(*) FROM annuaire.directory_entries WHERE deleted_at IS NULL") == "69"
        # An incremental run that lists nothing keeps them missing.
        r = svc.run("sync")
        assert "removed=0 unchanged=63 rejected=0 conflicts=0 missing=6" in r.stdout, r.stdout
        # Past the grace, a complete read removes them.
        sql(svc, "UPDATE annuaire.directory_entries SET missing_since = now() - interval '2 hours'")
        r = svc.run("sync", "--full")
        assert "agri: success (full) added=0 changed=0 removed=6 unchanged=63 rejected=0 conflicts=0 missing=0" \
            in r.stdout, r.stdout + r.stderr
    finally:
        server.close()
