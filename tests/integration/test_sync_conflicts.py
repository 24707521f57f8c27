"""it.sync.conflicts: `annuaire sync --conflicts` lists each address more than one live
entry claims, with the claimants' sources, priorities and keys, the owner first (the
lowest priority number wins, as the annuaire decides: directory_addresses), and says so
when there are none; exit 0 either way."""
import harness
from test_sync_ldif import IMMEDIATE, entry, source


def test_conflicts(cluster, tmp_path):
    agri, culture, sport = tmp_path / "agri.ldif", tmp_path / "culture.ldif", tmp_path / "sport.ldif"
    agri.write_text(entry("a", "u-a", ["a@agri.gouv.fr"]))
    culture.write_text(entry("c", "u-c", ["c@culture.gouv.fr"]))
    sport.write_text(entry("s", "u-s", ["s@sports.gouv.fr"]))
    config = ("sync:\n" + IMMEDIATE + "  sources:\n" + source("agri", agri, 30) +
              source("culture", culture, 10) + source("sport", sport, 20))
    svc = harness.Service(cluster, config=config)
    assert svc.run("sync").returncode == 0
    r = svc.run("sync", "--conflicts")
    assert r.returncode == 0 and r.stdout == "no address is claimed by more than one live entry\n", \
        r.stdout + r.stderr

    # shared@ by all three (culture owns it: priority 10), twice@ by agri twice and sport.
    agri.write_text(entry("a", "u-a", ["a@agri.gouv.fr", "shared@gouv.fr"]) +
                    entry("a2", "u-a2", ["twice@gouv.fr"]) + entry("a3", "u-a3", ["twice@gouv.fr"]))
    culture.write_text(entry("c", "u-c", ["c@culture.gouv.fr", "shared@gouv.fr"]))
    sport.write_text(entry("s", "u-s", ["s@sports.gouv.fr", "shared@gouv.fr", "twice@gouv.fr"]))
    assert svc.run("sync").returncode == 0
    r = svc.run("sync", "--conflicts")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "shared@gouv.fr",
        "  owner   source culture priority 10 key u-c",
        "  claimed source sport priority 20 key u-s",
        "  claimed source agri priority 30 key u-a",
        "twice@gouv.fr",
        "  owner   source sport priority 20 key u-s",
        "  claimed source agri priority 30 key u-a2",
        "  claimed source agri priority 30 key u-a3",
        "2 addresses claimed by more than one live entry (the owner: the lowest priority number, "
        "then the source name, then the key)",
    ], r.stdout
    # The owners are the annuaire's.
    owners = svc.cluster.psql("SELECT address, source, key FROM annuaire.directory_addresses"
                              " WHERE address IN ('shared@gouv.fr', 'twice@gouv.fr') ORDER BY 1",
                              db=svc.db).split()
    assert owners == ["shared@gouv.fr|culture|u-c", "twice@gouv.fr|sport|u-s"], owners
    # A soft-deleted entry claims nothing.
    sport.write_text(entry("s", "u-s", ["s@sports.gouv.fr"]))
    assert svc.run("sync", "--allow-mass-delete").returncode == 0
    lines = svc.run("sync", "--conflicts").stdout.splitlines()
    assert lines[:5] == ["shared@gouv.fr", "  owner   source culture priority 10 key u-c",
                         "  claimed source agri priority 30 key u-a", "twice@gouv.fr",
                         "  owner   source agri priority 30 key u-a2"], lines
