"""it.search.folding: accents, case, hyphens and apostrophes fold the same way in the
annuaire (the sync's words) and in the term: "francois" finds François, "lefevre"
Lefèvre, "jean pierre" Jean-Pierre, "dangelo" and "d'angelo" D'Angelo, "oeuvray"
Œuvray."""
from search_env import names, person, synced


def test_folding(cluster, tmp_path):
    svc = synced(cluster, tmp_path, [
        person("u1", 1, "François Lefèvre", "Lefèvre", "François", "Bureau du budget"),
        person("u2", 2, "Jean-Pierre Dupont", "Dupont", "Jean-Pierre", "Bureau du budget"),
        person("u3", 3, "Marie D'Angelo", "D'Angelo", "Marie", "Bureau du budget"),
        person("u4", 4, "Hélène Œuvray", "Œuvray", "Hélène", "Bureau du budget"),
        person("u5", 5, "Paul Petit", "Petit", "Paul", "Bureau du budget"),
    ])
    for term in ("francois", "François", "FRANCOIS", "lefevre", "Lefèvre", "francois lefevre"):
        assert names(svc, term) == ["François Lefèvre"], term
    for term in ("jean pierre", "jean-pierre", "Jean-Pierre", "pierre jean", "jean pierre dupont"):
        assert names(svc, term) == ["Jean-Pierre Dupont"], term
    for term in ("dangelo", "d'angelo", "D’Angelo", "DANGELO", "marie dangelo", "angelo"):
        assert names(svc, term) == ["Marie D'Angelo"], term
    for term in ("oeuvray", "Œuvray", "helene", "hélène oeuvray"):
        assert names(svc, term) == ["Hélène Œuvray"], term
    # The folded term is the name: the exact-name rank, first.
    assert names(svc, "Jean Pierre") == ["Jean-Pierre Dupont"]
    assert names(svc, "d angelo") == ["Marie D'Angelo"]  # "d" a prefix of dangelo
