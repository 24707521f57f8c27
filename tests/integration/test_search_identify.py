"""it.search.identify: GET /_annuaire/v1/directory/entry?address= or ?mxid= over an annuaire
filled by a real LDIF sync: who an entry is (display name, entity, ministry, agent or
external, on Tchap or not, the Matrix ID when bound), by address in any case or by bound
Matrix ID; every miss (unknown, hidden, disabled, removed, malformed address or Matrix ID)
is 404 M_NOT_FOUND with one same body, byte for byte; exactly one of the two parameters;
a token required; users of the externals' platform and of servers the routing map does not
name refused."""
import json


from harness import assert_matrix_error
from search_api_env import CONTRACTOR, EXT, HS, MINISTRY, address, env, ok, write_ldif  # noqa: F401 (env)
from test_leavers_api import bind


def test_identify(env):
    auth = env.token(f"@asker:{HS}")
    flefevre = bind(env.svc, "flefevre")
    sortant = bind(env.svc, "sortant")
    francois = {"display_name": "François Lefèvre", "entity": "Bureau des semences",
                "ministry": MINISTRY, "kind": "agent", "on_tchap": True, "mxid": flefevre}

    # Hits: by address (any case), by bound Matrix ID; unbound: no mxid.
    assert ok(env.entry(auth, address=address("flefevre"))) == francois
    assert ok(env.entry(auth, address="FLefevre@AGRI.Gouv.FR")) == francois
    assert ok(env.entry(auth, mxid=flefevre)) == francois
    assert ok(env.entry(auth, address=address("hlefevre"))) == {
        "display_name": "Hélène Lefèvre", "entity": "Service de la forêt", "ministry": MINISTRY,
        "kind": "agent", "on_tchap": False}
    # The contractor's address routes to the externals' platform.
    assert ok(env.entry(auth, address=CONTRACTOR)) == {
        "display_name": "Pierre Prestataire", "entity": "Cabinet", "ministry": MINISTRY,
        "kind": "external", "on_tchap": False}
    assert ok(env.entry(auth, address=address("sortant")))["mxid"] == sortant

    # sortant leaves the export: removed.
    write_ldif(env.ldif, absent=("sortant",))
    env.sync("--allow-mass-delete")

    # Misses: all the same 404, byte for byte.
    misses = [
        {"address": "inconnu@agri.gouv.fr"},
        {"address": address("masque")},      # hidden
        {"address": address("parti")},       # disabled
        {"address": address("sortant")},     # removed
        {"mxid": sortant},                   # bound to the removed one
        {"mxid": f"@personne:{HS}"},
        {"address": "pas une adresse"},      # malformed
        {"address": "a@"},
        {"address": "x" * 400 + "@agri.gouv.fr"},
        {"address": ""},
        {"mxid": "flefevre"},
        {"mxid": "@:"},
        {"mxid": "@a b:" + HS},
    ]
    bodies = set()
    for params in misses:
        r = env.entry(auth, **params)
        assert_matrix_error(r, 404, "M_NOT_FOUND")
        bodies.add(r.content)
    assert len(bodies) == 1, bodies
    assert json.loads(bodies.pop()) == {"errcode": "M_NOT_FOUND",
                                        "error": "No such entry in the directory"}

    # Exactly one parameter.
    assert_matrix_error(env.entry(auth), 400, "M_MISSING_PARAMS")
    assert_matrix_error(env.entry(auth, address=address("flefevre"), mxid=flefevre), 400,
                        "M_INVALID_PARAM")
    # A token, and not a user of the externals' platform.
    assert_matrix_error(env.entry(None, address=address("flefevre")), 401, "M_UNAUTHORIZED")
    # Only users of a homeserver the routing map names, not an externals' one (one 403).
    tokens = [env.token(mxid) for mxid in (f"@dehors:{EXT}", "@mallory:evil.example",
                                           f"@port:{HS}:8448")]
    refused = [env.entry(t, address=address("flefevre")) for t in tokens]
    refused += [env.entry(t, mxid=flefevre) for t in tokens]
    assert [r.status_code for r in refused] == [403] * 6, [r.text for r in refused]
    for r in refused:
        assert r.json() == {"errcode": "M_FORBIDDEN",
                            "error": "Only users of an agents' homeserver may search the directory"}


def test_identify_by_mxid_answers_that_mxid(env):
    """An agent whose two addresses are bound to two Matrix IDs: asked by one of them, the
    answer names that one, never the other."""
    from search_api_env import ldif_entry
    env.ldif.write_text("version: 1\n\n" + ldif_entry(
        1, "dual", "Dominique", "Double", "Cabinet", [address("dual"), address("dual2")]))
    env.sync("--allow-mass-delete")
    auth = env.token(f"@asker:{HS}")
    first, second = bind(env.svc, "dual"), bind(env.svc, "dual2")
    assert ok(env.entry(auth, mxid=first))["mxid"] == first
    assert ok(env.entry(auth, mxid=second))["mxid"] == second
