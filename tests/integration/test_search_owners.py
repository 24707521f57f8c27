"""it.search.owners: an address two sources claim belongs to one entry, the one of the
source with the lower priority number, as identification and lookups have it; the
search shows the other entry nowhere for that address: a red-listed agent does not
come back through a second source that lists the address visible, and a second source
cannot put a name of its own on another source's agent and its Matrix ID."""
from search_env import names, person, search, service, sync, write_ldif


def config(alpha, beta):
    text = "sync:\n  removal_grace_runs: 0\n  removal_grace_seconds: 0\n  sources:\n"
    for name, ministry, path, priority in (("alpha", "Alpha", alpha, 10),
                                           ("beta", "Beta", beta, 20)):
        text += (f"    - name: {name}\n      ministry: \"{ministry}\"\n      ldif: {path}\n"
                 f"      priority: {priority}\n"
                 "      attributes:\n        hidden: supannListeRouge\n")
    return text


def test_owner_only(cluster, tmp_path):
    alpha, beta = tmp_path / "alpha.ldif", tmp_path / "beta.ldif"
    write_ldif(alpha, [
        person("zoe", 1, "Zoé Secrète", "Secrète", "Zoé", mails=["zoe@agri.gouv.fr"],
               extra=["supannListeRouge: TRUE"]),
        person("boss", 2, "Anne Patronne", "Patronne", "Anne", mails=["a.boss@agri.gouv.fr"]),
    ])
    write_ldif(beta, [
        person("zoe2", 11, "Zoé Secrète", "Secrète", "Zoé", ou="Bureau bêta",
               mails=["zoe@agri.gouv.fr"]),
        person("fake", 12, "Usurpateur Faux", "Faux", "Usurpateur",
               mails=["a.boss@agri.gouv.fr"]),
        person("own", 13, "Usurpateur Vrai", "Vrai", "Usurpateur",
               mails=["a.boss@agri.gouv.fr", "vrai@beta.gouv.fr"]),
    ])
    with service(cluster, config(alpha, beta)) as svc:
        sync(svc)
        svc.sql("INSERT INTO annuaire.associations"
                " (medium, address, mxid, ts, not_before, not_after, lookup_hash)"
                " VALUES ('email', 'a.boss@agri.gouv.fr', '@boss:agent.agri.test', 0, 0,"
                " 9000000000000, 'x')")
        # The red-listed agent of alpha owns the address: beta's visible copy is not shown.
        assert names(svc, "secrete") == []
        # Beta's entry that owns none of its addresses is not shown; the one that owns
        # another address is, with that address and without alpha's agent's Matrix ID.
        page = search(svc, "usurpateur")["results"]
        assert [h["display_name"] for h in page] == ["Usurpateur Vrai"]
        assert page[0]["address"] == "vrai@beta.gouv.fr"
        assert page[0].get("mxid") is None
        # Alpha's agent is found with its Matrix ID.
        page = search(svc, "patronne")["results"]
        assert [(h["display_name"], h.get("mxid")) for h in page] == [
            ("Anne Patronne", "@boss:agent.agri.test")]
