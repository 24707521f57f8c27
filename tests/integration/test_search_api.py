"""it.search.api: POST /_annuaire/v1/directory/search over an annuaire filled by a real LDIF
sync: an identity access token is required (401), a user of the externals' platform or of a
server the routing map does not name is refused (403 M_FORBIDDEN); term required and at least search.min_term letters, limit
1..50, wrong types 400; an agent found with its Matrix ID when bound (on_tchap true) and
without when not (on_tchap false); hidden, disabled and removed agents and externals never
listed; the address only with search.return_email; pages followed through next to the
end without duplicates, and a cursor of another term refused."""
import requests

from harness import assert_matrix_error
from search_api_env import BERNARDS, EXT, HS, MINISTRY, SEARCH, address, env, ok, write_ldif  # noqa: F401 (env)
from test_leavers_api import bind


def names(body):
    return [r["display_name"] for r in body["results"]]


def test_search(env):
    auth = env.token(f"@searcher:{HS}")
    flefevre = bind(env.svc, "flefevre")

    # Who may search: a token, and not a user of the externals' platform.
    assert_matrix_error(env.search(None, {"term": "lefevre"}), 401, "M_UNAUTHORIZED")
    assert_matrix_error(env.search({"Authorization": "Bearer nope"}, {"term": "lefevre"}), 401,
                        "M_UNAUTHORIZED")
    # Only users of a homeserver the routing map names, not an externals' one: the same
    # 403 for a user of the externals' platform, of a server the map does not name, and of
    # a mapped server's name with a port the map does not write.
    refused = [env.search(env.token(mxid), {"term": "lefevre"})
               for mxid in (f"@dehors:{EXT}", "@mallory:evil.example", f"@port:{HS}:8448")]
    assert [r.status_code for r in refused] == [403, 403, 403], [r.text for r in refused]
    for r in refused:
        assert r.json() == {"errcode": "M_FORBIDDEN",
                            "error": "Only users of an agents' homeserver may search the directory"}

    # Found, accents folded: the bound agent with its Matrix ID, the other without.
    body = ok(env.search(auth, {"term": "lefevre"}))
    assert body["limited"] is False and "next" not in body, body
    by_name = {r["display_name"]: r for r in body["results"]}
    assert by_name == {
        "François Lefèvre": {"display_name": "François Lefèvre", "entity": "Bureau des semences",
                             "ministry": MINISTRY, "kind": "agent", "on_tchap": True,
                             "mxid": flefevre},
        "Hélène Lefèvre": {"display_name": "Hélène Lefèvre", "entity": "Service de la forêt",
                           "ministry": MINISTRY, "kind": "agent", "on_tchap": False},
    }, body
    assert names(ok(env.search(auth, {"term": "jean pierre dangelo"}))) == ["Jean-Pierre D'Angelo"]
    # Unknown keys are ignored; the filters narrow.
    assert names(ok(env.search(auth, {"term": "lefevre", "entity": "Bureau des semences",
                                      "ministry": MINISTRY, "unknown": [1]}))) == ["François Lefèvre"]
    assert names(ok(env.search(auth, {"term": "lefevre", "ministry": "Ministère inconnu"}))) == []
    # Never listed: hidden, disabled, externals (search.include_externals is off).
    for term in ("masque", "desactive", "prestataire"):
        assert ok(env.search(auth, {"term": term}))["results"] == [], term

    # Term: required, a string, at least search.min_term (2) letters or digits once folded.
    assert_matrix_error(env.search(auth, {}), 400, "M_MISSING_PARAMS")
    assert_matrix_error(env.search(auth, {"term": 42}), 400, "M_INVALID_PARAM")
    for term in ("", "a", "é-", " ' "):
        r = env.search(auth, {"term": term})
        assert_matrix_error(r, 400, "M_INVALID_PARAM")
        assert "2" in r.json()["error"] and "search.min_term" in r.json()["error"], r.json()
    assert_matrix_error(env.search(auth, {"term": "x" * 257}), 400, "M_INVALID_PARAM")
    # Limit: 1..50, an integer; other fields bounded strings.
    for limit in (0, 51, -1, "3", 2.5, True):
        assert_matrix_error(env.search(auth, {"term": "bernard", "limit": limit}), 400,
                            "M_INVALID_PARAM")
    for bad in ({"ministry": 1}, {"entity": ""}, {"domain": "d" * 256}, {"next": 7}):
        assert_matrix_error(env.search(auth, {"term": "bernard", **bad}), 400, "M_INVALID_PARAM")
    assert_matrix_error(requests.post(env.svc.url(SEARCH), headers=auth, json=["bernard"],
                                      timeout=10), 400, "M_BAD_JSON")
    assert len(ok(env.search(auth, {"term": "bernard", "limit": 50}))["results"]) == 7
    assert len(ok(env.search(auth, {"term": "bernard"}))["results"]) == 7  # default 10

    # Paging: three pages of at most 3, each Bernard once, the last without next.
    seen, cursor, pages = [], None, 0
    while True:
        req = {"term": "bernard", "limit": 3, **({"next": cursor} if cursor else {})}
        page = ok(env.search(auth, req))
        pages += 1
        assert len(page["results"]) <= 3
        seen += names(page)
        if not page["limited"]:
            assert "next" not in page
            break
        assert isinstance(page["next"], str) and page["next"]
        cursor = page["next"]
        assert pages < 10
    assert pages == 3 and len(seen) == 7 and set(seen) == BERNARDS, seen
    # The same first page again (stable), and its cursor refused for another term.
    first = ok(env.search(auth, {"term": "bernard", "limit": 3}))
    assert names(first) == seen[:3]
    assert_matrix_error(env.search(auth, {"term": "lefevre", "limit": 3, "next": first["next"]}),
                        400, "M_INVALID_PARAM")
    assert_matrix_error(env.search(auth, {"term": "bernard", "limit": 3, "next": "garbage"}), 400,
                        "M_INVALID_PARAM")

    # A removed agent is gone after the sync that removes it.
    assert names(ok(env.search(auth, {"term": "sortante"}))) == ["Sophie Sortante"]
    write_ldif(env.ldif, absent=("sortant",))
    env.sync("--allow-mass-delete")
    assert ok(env.search(auth, {"term": "sortante"}))["results"] == []

    # The address only with search.return_email.
    assert all("email" not in r for r in body["results"])
    env.restart("  return_email: true\n")
    auth = env.token(f"@searcher:{HS}")
    got = {r["display_name"]: r.get("email") for r in ok(env.search(auth, {"term": "lefevre"}))["results"]}
    assert got == {"François Lefèvre": address("flefevre"), "Hélène Lefèvre": address("hlefevre")}


def test_long_entity_pages(env):
    """A page that ends among the members of an entity of 900 bytes (the sync keeps up to
    1024) has a next cursor carrying its name, and that cursor is taken back."""
    from search_api_env import ldif_entry
    entity = "Mission quasar " + " ".join(f"pole{n:04d}" for n in range(100))
    assert 880 < len(entity) < 1024
    text = "version: 1\n\n" + "".join(
        ldif_entry(n, f"m{n}", given, "Membre", entity, [address(f"m{n}")])
        for n, given in enumerate(("Alix", "Basile", "Cyrielle"), 1))
    env.ldif.write_text(text)
    env.sync("--allow-mass-delete")
    auth = env.token(f"@searcher:{HS}")
    seen, body = [], ok(env.search(auth, {"term": "quasar", "limit": 1}))
    seen += names(body)
    while "next" in body:
        assert len(body["next"]) > 1024
        body = ok(env.search(auth, {"term": "quasar", "limit": 1, "next": body["next"]}))
        seen += names(body)
    assert sorted(seen) == ["Alix Membre", "Basile Membre", "Cyrielle Membre"]
