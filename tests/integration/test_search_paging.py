"""it.search.paging: pages of 2 through a set with --after give every entry once, in
the order of one big page; then, between two pages, a sync adds, removes and renames
entries: no entry twice, none of the unchanged ones after the cursor skipped, the
removed gone, the added (after the cursor in the order) there. A cursor is bound to
its search: under another term or filter, or altered, it is refused."""
from search_env import person, search, service, sources_config, sync, write_ldif

GIVEN = ["Anne", "Bruno", "Chloé", "David", "Emma", "Félix", "Gaël", "Hugo", "Inès"]


def export(path, given, renamed=()):
    records = []
    for n, g in enumerate(GIVEN, 1):
        if g not in given:
            continue
        sn = "Durand" if g in renamed else "Martin"
        records.append(person(f"u{n}", n, f"{g} {sn}", sn, g, "Bureau du budget"))
    write_ldif(path, records)


def pages(svc, term, size, first=None):
    seen, after = [], first
    while True:
        page = search(svc, term, "--limit", str(size), *(("--after", after) if after else ()))
        seen += [h["display_name"] for h in page["results"]]
        after = page["next"]
        if after is None:
            return seen


def test_paging(cluster, tmp_path):
    path = tmp_path / "agri.ldif"
    export(path, GIVEN[:7])
    svc = service(cluster, sources_config([("agri", "Agriculture", path)]))
    sync(svc)
    whole = [h["display_name"] for h in search(svc, "mart", "--limit", "50")["results"]]
    assert len(whole) == 7 and sorted(whole) == sorted(f"{g} Martin" for g in GIVEN[:7])
    assert pages(svc, "mart", 2) == whole
    assert pages(svc, "martin", 3) == [h["display_name"] for h in
                                       search(svc, "martin", "--limit", "50")["results"]]

    first = search(svc, "mart", "--limit", "2")
    shown = [h["display_name"] for h in first["results"]]
    assert shown == whole[:2]
    # Between two pages: one after the cursor removed, one renamed (no longer matches),
    # two added (new entries: after every existing one in the order).
    removed, renamed = whole[3], whole[5]
    given = [g for g in GIVEN if f"{g} Martin" != removed]
    export(path, given, renamed=[renamed.split()[0]])
    sync(svc)
    rest = pages(svc, "mart", 2, first=first["next"])
    assert not set(rest) & set(shown)
    assert len(rest) == len(set(rest))
    unchanged = [n for n in whole[2:] if n not in (removed, renamed)]
    assert [n for n in rest if n in unchanged] == unchanged
    assert removed not in rest and renamed not in rest
    assert rest[-2:] == ["Hugo Martin", "Inès Martin"]
    assert len(rest) == len(unchanged) + 2

    # Bound to the search: another term, another filter, a forged one.
    cursor = first["next"]
    for args in (("--after", cursor, "marti"), ("--after", cursor, "--entity", "X", "mart"),
                 ("--after", cursor[:-2], "mart"), ("--after", "not a cursor!", "mart"),
                 ("--after", cursor + "AA", "mart")):
        r = svc.run("search", *args)
        assert r.returncode == 2 and "not a cursor of this search" in r.stderr, (args, r.stderr)
