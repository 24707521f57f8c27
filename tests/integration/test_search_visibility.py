"""it.search.visibility: hidden (red list), disabled and removed entries are absent
from the search, and back once visible again (later syncs); an agent whose address
routes to an externals' platform is absent unless asked for (--externals), and the
cursor still moves past it; a bound agent is shown with its Matrix ID, an unbound one
without; identification behaves the same (the API's GET .../directory/entry)."""
from routing_env import routing_config, write_mapping
from search_env import names, person, search, service, sources_config, sync, write_ldif

MAPPING = r"""
medium:
  email:
    patterns:
      - '.*@agri\.gouv\.fr': {hs: agent.agri.test}
      - '.*@prestataire\.test': {hs: agent.externe.test, requires_invite: true}
"""


def export(path, hidden=(), disabled=(), absent=()):
    records = []
    for n, uid in enumerate(("bound", "free", "red", "off", "gone", "ext"), 1):
        if uid in absent:
            continue
        extra = ["supannListeRouge: TRUE"] if uid in hidden else []
        extra.append("userAccountControl: " + ("514" if uid in disabled else "512"))
        mails = [f"{uid}.martin@prestataire.test"] if uid == "ext" else None
        records.append(person(uid, n, f"{uid.capitalize()} Martin", "Martin", uid.capitalize(),
                              "Bureau du budget", mails=mails, extra=extra))
    write_ldif(path, records)


def test_visibility(cluster, tmp_path):
    path = tmp_path / "agri.ldif"
    export(path, hidden=("red",), disabled=("off",))
    config = (routing_config(write_mapping(tmp_path, MAPPING))
              + sources_config([("agri", "Agriculture", path)]))
    svc = service(cluster, config)
    sync(svc)
    svc.sql("INSERT INTO annuaire.associations"
            " (medium, address, mxid, ts, not_before, not_after, lookup_hash)"
            " VALUES ('email', 'bound@agri.gouv.fr', '@bound:agent.agri.test', 0, 0,"
            " 9000000000000000, 'h-bound')")
    everyone = ["Bound Martin", "Free Martin", "Gone Martin"]
    assert names(svc, "martin") == everyone
    hits = {h["display_name"]: h for h in search(svc, "martin")["results"]}
    assert hits["Bound Martin"]["mxid"] == "@bound:agent.agri.test"
    assert hits["Free Martin"]["mxid"] is None
    assert hits["Free Martin"] == {"display_name": "Free Martin", "entity": "Bureau du budget",
                                   "ministry": "Agriculture", "address": "free@agri.gouv.fr",
                                   "mxid": None, "external": False}
    assert names(svc, "red") == [] and names(svc, "off") == []
    # Externals only when asked for; a page that skipped one still leads to the next.
    assert names(svc, "martin", "--externals") == everyone + ["Ext Martin"]
    ext = search(svc, "martin", "--externals")["results"][-1]
    assert ext["external"] is True and ext["address"] == "ext.martin@prestataire.test"
    assert names(svc, "ext") == []
    page = search(svc, "martin", "--limit", "3")
    assert [h["display_name"] for h in page["results"]] == everyone and page["next"] is not None
    rest = search(svc, "martin", "--limit", "3", "--after", page["next"])
    assert rest == {"results": [], "next": None}

    # Removed, hidden and disabled in one run; red and off come back.
    export(path, hidden=("free",), disabled=("bound",), absent=("gone",))
    sync(svc)
    assert names(svc, "martin") == ["Red Martin", "Off Martin"]
    assert names(svc, "bound") == [] and names(svc, "free") == [] and names(svc, "gone") == []
    assert svc.sql("SELECT count(*) FROM annuaire.search_postings p"
                   " JOIN annuaire.directory_entries e ON e.id = p.id"
                   " WHERE e.key LIKE '%000000000001' OR e.key LIKE '%000000000002'"
                   " OR e.key LIKE '%000000000005'").strip() == "0"
    # All back.
    export(path)
    sync(svc)
    assert names(svc, "martin") == ["Bound Martin", "Free Martin", "Red Martin", "Off Martin",
                                    "Gone Martin"]
    assert search(svc, "bound")["results"][0]["mxid"] == "@bound:agent.agri.test"
