"""it.search.words: several words all have to match (each a word of the entry: exact,
prefix, inside or typo), in any order; the exact name comes first, then the rank of the
worst-matching word."""
from search_env import by_id, names, person, synced


def test_words(cluster, tmp_path):
    svc = synced(cluster, tmp_path, [
        person("u1", 1, "Jean Dupont", "Dupont", "Jean", "Bureau du budget"),
        person("u2", 2, "Jean-Pierre Dupont", "Dupont", "Jean-Pierre", "Bureau du budget"),
        person("u3", 3, "Pierre Martin", "Martin", "Pierre", "Bureau du budget"),
        person("u4", 4, "Jean Martin", "Martin", "Jean", "Préfecture de l'Ain"),
        person("u5", 5, "Jeanne Dupontel", "Dupontel", "Jeanne", "Bureau du budget"),
    ])
    # exact name, then both words exact, then prefixes (jeanne, dupontel)
    assert names(svc, "jean dupont") == ["Jean Dupont", "Jean-Pierre Dupont", "Jeanne Dupontel"]
    # no exact name: both exact words (by id), then the prefixes
    assert names(svc, "dupont jean") == by_id(svc, ["Jean Dupont", "Jean-Pierre Dupont"]) + [
        "Jeanne Dupontel"]
    assert names(svc, "pierre dupont") == ["Jean-Pierre Dupont"]
    assert names(svc, "dupont pierre jean") == ["Jean-Pierre Dupont"]
    assert names(svc, "jean martin") == ["Jean Martin"]
    assert names(svc, "jean durand") == []
    assert names(svc, "pierre") == by_id(svc, ["Jean-Pierre Dupont", "Pierre Martin"])
    # a word of the entity: after every person-word match, but it counts
    assert names(svc, "martin prefecture") == ["Jean Martin"]
    assert names(svc, "jean ain") == ["Jean Martin"]
    # a typo in one word (5 letters or more), prefix in the other
    assert names(svc, "dupnot jean-p") == ["Jean-Pierre Dupont"]
    # the same word twice counts once
    assert names(svc, "martin martin") == by_id(svc, ["Pierre Martin", "Jean Martin"])


def test_command_follows_the_configuration(cluster, tmp_path):
    """annuaire search takes the shortest term from search.min_term, as the API does."""
    from search_env import service, sources_config, sync, write_ldif
    path = tmp_path / "agri.ldif"
    write_ldif(path, [person("u1", 1, "Jean Dupont", "Dupont", "Jean", "Bureau du budget")])
    svc = service(cluster, sources_config([("agri", "Agriculture", path)],
                                          "search:\n  min_term: 5\n"))
    sync(svc)
    r = svc.run("search", "dupo")
    assert r.returncode != 0 and "at least 5 letters" in r.stderr, r.stdout + r.stderr
    assert names(svc, "dupon") == ["Jean Dupont"]
