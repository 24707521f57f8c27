"""it.search.filters: --ministry (the label of the entry's source), --domain (of one of
its addresses) and --entity (exact) restrict a search, alone or together, with paging
inside the restriction; the command's usage errors."""
from search_env import names, person, search, service, sources_config, sync, write_ldif


def test_filters(cluster, tmp_path):
    agri, culture = tmp_path / "agri.ldif", tmp_path / "culture.ldif"
    write_ldif(agri, [
        person("a1", 1, "Anne Martin", "Martin", "Anne", "Bureau du budget"),
        person("a2", 2, "Bruno Martin", "Martin", "Bruno", "Service du personnel",
               mails=["bruno.martin@forets.agri.gouv.fr"]),
        person("a3", 3, "Chloé Martin", "Martin", "Chloé", "Bureau du budget"),
    ])
    write_ldif(culture, [
        person("c1", 11, "David Martin", "Martin", "David", "Bureau du budget",
               mails=["david.martin@culture.gouv.fr"]),
        person("c2", 12, "Emma Martin", "Martin", "Emma", "Musée du Louvre",
               mails=["emma.martin@culture.gouv.fr"]),
    ])
    svc = service(cluster, sources_config([("agri", "Agriculture", agri),
                                           ("culture", "Ministère de la Culture", culture)]))
    sync(svc)
    assert len(names(svc, "martin")) == 5
    assert names(svc, "martin", "--ministry", "Agriculture") == [
        "Anne Martin", "Bruno Martin", "Chloé Martin"]
    assert names(svc, "martin", "--ministry", "Ministère de la Culture") == [
        "David Martin", "Emma Martin"]
    assert names(svc, "martin", "--ministry", "Culture") == []
    assert names(svc, "martin", "--domain", "culture.gouv.fr") == ["David Martin", "Emma Martin"]
    assert names(svc, "martin", "--domain", "forets.agri.gouv.fr") == ["Bruno Martin"]
    assert names(svc, "martin", "--entity", "Bureau du budget") == [
        "Anne Martin", "Chloé Martin", "David Martin"]
    assert names(svc, "martin", "--entity", "Bureau du budget", "--ministry",
                 "Ministère de la Culture") == ["David Martin"]
    assert names(svc, "martin", "--entity", "bureau du budget") == []
    # An entity-word match under a filter: "musee" only through the entity.
    assert names(svc, "musee", "--ministry", "Ministère de la Culture") == ["Emma Martin"]
    assert names(svc, "musee", "--ministry", "Agriculture") == []
    # Paging inside a filter.
    page = search(svc, "martin", "--entity", "Bureau du budget", "--limit", "2")
    assert [h["display_name"] for h in page["results"]] == ["Anne Martin", "Chloé Martin"]
    rest = search(svc, "martin", "--entity", "Bureau du budget", "--limit", "2",
                  "--after", page["next"])
    assert rest == {"results": [search(svc, "david")["results"][0]], "next": None}
    # Usage.
    for args in ((), ("--limit", "0", "martin"), ("--limit", "101", "martin"), ("a", "b"),
                 ("m",), ("--bogus", "martin"), ("'-",)):
        r = svc.run("search", *args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
    r = svc.run("search", "--help")
    assert r.returncode == 0 and "--after CURSOR" in r.stdout
    r = svc.run("search", "x" * 257)
    assert r.returncode == 2 and "longer than 256 bytes" in r.stderr
    r = svc.run("search", "martin")
    assert r.returncode == 0
    assert r.stdout.splitlines()[0] == ("Anne Martin\tBureau du budget\tAgriculture\t"
                                        "a1@agri.gouv.fr\t-")
