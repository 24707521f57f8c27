"""Shared by the it.search.* tests of the delegated paths: an annuaire filled by a real
LDIF sync (agri's agents, accented names, one hidden), some of them bound to a Matrix ID
through the real validation and bind, a mapping with an agents' and an externals'
platform, and the fake homeserver that serves both platforms' APIs."""
from routing_env import write_mapping
from test_leavers_api import HS, bind

AGRI = HS  # the agents' homeserver (agent.agri.test, as test_leavers_api's bind binds)
EXT = "ext.test"  # the externals' platform
MAPPING = ("medium:\n  email:\n    patterns:\n"
           "      - '.*@agri\\.gouv\\.fr': {hs: agent.agri.test}\n"
           "      - '.*': {hs: ext.test, requires_invite: true}\n")

# uid: (displayName, givenName, sn, bound to a Matrix ID, hidden)
AGENTS = {
    "marie": ("Marie Lefèvre", "Marie", "Lefèvre", True, False),
    "paul": ("Paul Lefèvre", "Paul", "Lefèvre", True, False),
    "anne": ("Anne Lefèvre", "Anne", "Lefèvre", True, False),
    "jeanne": ("Jeanne Lefèvre", "Jeanne", "Lefèvre", False, False),  # in the annuaire only
    "rouge": ("Hélène Lefèvre", "Hélène", "Lefèvre", True, True),  # on the red list
    "zoe": ("Zoé Martin", "Zoé", "Martin", True, False),
}


def mxid(uid):
    return f"@{uid}:{AGRI}"


def ldif(agents=AGENTS):
    text = "version: 1\n\n"
    for n, (uid, (name, given, sn, _, hidden)) in enumerate(agents.items(), 1):
        text += (f"dn: uid={uid},ou=people,dc=agri,dc=gouv,dc=fr\nobjectClass: inetOrgPerson\n"
                 f"uid: {uid}\ncn: {name}\ndisplayName: {name}\ngivenName: {given}\nsn: {sn}\n"
                 f"ou: Bureau des semences\nmail: {uid}@agri.gouv.fr\n"
                 f"entryUUID: 3c000000-0000-4000-8000-{n:012d}\n"
                 + ("supannListeRouge: TRUE\n" if hidden else "") + "\n")
    return text


def config(tmp_path, hs, search="", account=""):
    """The service's configuration: hs is both platforms' homeserver (federation and
    client API); search, account: more lines of those sections."""
    path = tmp_path / "agri.ldif"
    path.write_text(ldif())
    sync = ("sync:\n  sources:\n    - name: agri\n      ministry: \"Ministère de l'Agriculture\"\n"
            f"      priority: 10\n      ldif: {path}\n")
    return (f"account:\n  homeservers: {{\"{AGRI}\": \"{hs.base_url}\", \"{EXT}\": \"{hs.base_url}\"}}\n"
            + account +
            f"routing:\n  info_file: {write_mapping(tmp_path, MAPPING)}\n" + sync
            + "search:\n" + (search or "  min_term: 2\n"))


def fill(svc, hs, sink):
    """Syncs the LDIF, then binds every agent AGENTS says is bound (the hidden one too)."""
    r = svc.run("sync")
    assert r.returncode == 0, r.stdout + r.stderr
    svc.hs, svc.sink = hs, sink  # as test_leavers_api's bind wants them
    for uid, (_, _, _, bound, _) in AGENTS.items():
        if bound:
            assert bind(svc, uid) == mxid(uid)
    assert svc.sql("SELECT count(*) FROM annuaire.associations").strip() == \
        str(sum(1 for a in AGENTS.values() if a[3]))
