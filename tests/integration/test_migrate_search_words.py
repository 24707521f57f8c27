"""it.migrate.search_words: `annuaire migrate` fills the search words of entries that
have none (stored before migration 019) with what a sync computes, in several batches,
and a second migrate fills nothing."""
import os
import shutil

import harness

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")

COLUMNS = ("SELECT key, search_words, search_entity_words, search_name"
           " FROM annuaire.directory_entries WHERE key LIKE '5a%' ORDER BY key")

# More rows than one batch (2000) holds: three transactions.
GENERATED = 4500


def test_migrate_fills_missing_words(cluster, tmp_path):
    path = tmp_path / "culture.ldif"
    shutil.copy(os.path.join(DATA, "search_words.ldif"), path)
    svc = harness.Service(cluster, config="sync:\n  sources:\n    - name: culture\n"
                                          f"      ministry: Culture\n      ldif: {path}\n")

    def sql(q):
        return cluster.psql(q, db=svc.db).strip()

    r = svc.run("sync")
    assert r.returncode == 0, r.stdout + r.stderr
    synced = sql(COLUMNS)
    assert len(synced.splitlines()) == 5 and "{angelo,d,dangelo,helene,marie,mh}" in synced

    # As stored before migration 019: no words at all, on the synced entries and on
    # generated ones.
    sql("UPDATE annuaire.directory_entries"
        " SET search_words = NULL, search_entity_words = NULL, search_name = NULL")
    sql("INSERT INTO annuaire.directory_entries (source, key, dn, mails, display_name,"
        " given_name, surname, entity, content_hash)"
        " SELECT 'culture', 'gen' || i, 'uid=gen' || i || ',dc=culture',"
        " ARRAY['zoe.muller' || i || '@culture.gouv.fr'], 'Zoé Müller-Lüdenscheidt',"
        " 'Zoé', 'Müller-Lüdenscheidt', 'Mission numérique de l''Ardèche', md5(i::text)"
        f" FROM generate_series(1, {GENERATED}) i")
    assert sql("SELECT count(*) FROM annuaire.directory_entries"
               " WHERE search_words IS NULL") == str(GENERATED + 5)

    r = svc.run("migrate")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "(0 migrations applied)" in r.stdout
    assert f"search words filled for {GENERATED + 5} entries" in r.stdout, r.stdout
    assert sql(COLUMNS) == synced
    assert sql("SELECT count(*) FROM annuaire.directory_entries"
               " WHERE search_words = '{ludenscheidt,muller,zoe}'"
               " AND search_entity_words = '{ardeche,mission,numerique}'"
               " AND search_name = 'zoe muller ludenscheidt'") == str(GENERATED)

    r = svc.run("migrate")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "search words filled for 0 entries" in r.stdout, r.stdout
    assert sql(COLUMNS) == synced
    assert sql("SELECT count(*) FROM annuaire.directory_entries WHERE search_words IS NULL") == "0"
