"""it.sync.search_words: the search words a sync computes for each entry
(sql/019_search.sql): exact arrays after a first run (copied straight into
directory_entries) and after a second run that changes names (staging and apply)."""
import os
import shutil

import harness

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")

COLUMNS = ("SELECT key, search_words, search_entity_words, coalesce(search_name, '<none>')"
           " FROM annuaire.directory_entries ORDER BY key")

FIRST = [
    "5a000000-0000-4000-8000-000000000001|{flu,francois,lefevre,utile}|"
    "{communication,direction,information,systemes}|francois lefevre utile",
    "5a000000-0000-4000-8000-000000000002|{angelo,d,dangelo,helene,marie,mh}|{ain,prefecture}|"
    "marie helene dangelo",
    "5a000000-0000-4000-8000-000000000003|{aissatou,diaye,ndiaye}|{3e,budget,bureau,etage}|"
    "aissatou ndiaye",
    "5a000000-0000-4000-8000-000000000004|{l,laetitia,oeuvray}|{}|oeuvray laetitia",
    # "null" is a word, not a NULL element (PostgreSQL quotes it on output).
    '5a000000-0000-4000-8000-000000000005|{"null"}|{civil,etat,service}|<none>',
]


def config(path):
    return ("sync:\n  sources:\n    - name: culture\n      ministry: Culture\n"
            f"      ldif: {path}\n")


def test_words_first_and_second_run(cluster, tmp_path):
    path = tmp_path / "culture.ldif"
    shutil.copy(os.path.join(DATA, "search_words.ldif"), path)
    svc = harness.Service(cluster, config=config(path))

    def sql(q):
        return cluster.psql(q, db=svc.db).strip()

    r = svc.run("sync")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "culture: success (full) added=5" in r.stdout, r.stdout
    assert sql(COLUMNS).splitlines() == FIRST
    assert sql("SELECT count(*) FROM annuaire.directory_entries"
               " WHERE search_words = ARRAY['null'] AND search_words[1] IS NOT NULL") == "1"

    # Second run: a surname changes (its words change), a title changes (its words
    # do not), one entry is new, the others are as they were.
    text = path.read_text(encoding="utf-8")
    text = text.replace("sn: Lefèvre-Utile", "sn: Le Fèvre")
    text = text.replace("displayName: François Lefèvre-Utile", "displayName: François Le Fèvre")
    text = text.replace("title: Attachée", "title: Attachée principale")
    text += ("dn: uid=jpdupont,ou=people,dc=culture,dc=gouv,dc=fr\nobjectClass: inetOrgPerson\n"
             "uid: jpdupont\ncn: Jean-Pierre Dupont\nsn: Dupont\ngivenName: Jean-Pierre\n"
             "displayName: JEAN-PIERRE DUPONT\nmail: jean.pierre-dupont_3@culture.gouv.fr\n"
             "ou: Délégation à l’action extérieure des collectivités territoriales\n"
             "entryUUID: 5a000000-0000-4000-8000-000000000006\n\n")
    path.write_text(text, encoding="utf-8")
    r = svc.run("sync")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "added=1 changed=2 removed=0 unchanged=3" in r.stdout, r.stdout
    second = list(FIRST)
    second[0] = ("5a000000-0000-4000-8000-000000000001|{fevre,flu,francois,le,lefevre,utile}|"
                 "{communication,direction,information,systemes}|francois le fevre")
    second.append("5a000000-0000-4000-8000-000000000006|{dupont,jean,pierre}|"
                  "{action,collectivites,delegation,exterieure,territoriales}|jean pierre dupont")
    assert sql(COLUMNS).splitlines() == second
    # Nothing of the read is left without words.
    assert sql("SELECT count(*) FROM annuaire.directory_entries WHERE search_words IS NULL"
               " OR search_entity_words IS NULL") == "0"
