"""Shared by the it.search.* tests of the delegated paths: an annuaire filled by a real
LDIF sync (agri's agents, accented names, one hidden), some of them bound to a Matrix ID
through the real validation and bind, a mapping with an agents' and an externals'
platform, and the fake homeserver that serves both platforms' APIs."""
import re

import requests

import harness
from routing_env import V2, write_mapping

AGRI = "agent.agri.test"  # the agents' homeserver
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
    for uid, (_, _, _, bound, _) in AGENTS.items():
        if bound:
            bind(svc, hs, sink, uid)
    assert svc.sql("SELECT count(*) FROM annuaire.associations").strip() == \
        str(sum(1 for a in AGENTS.values() if a[3]))


def bind(svc, hs, sink, uid):
    """mxid(uid) validates uid@agri.gouv.fr and binds it (v2)."""
    address, secret = f"{uid}@agri.gouv.fr", "sec-" + uid
    auth = {"Authorization": "Bearer " + harness.register(svc, hs, mxid(uid), server=AGRI)}
    r = requests.post(svc.url(V2 + "/validate/email/requestToken"), headers=auth, json={
        "client_secret": secret, "email": address, "send_attempt": 1})
    assert r.status_code == 200, r.text
    sid = r.json()["sid"]

    def link_in(msg):
        m = re.search(r"https?://\S+submitToken\S+", msg.get_body(("plain",)).get_content())
        return m.group(0) if m and f"sid={sid}" in m.group(0) else None

    assert requests.get(link_in(sink.wait_for(link_in)[2])).status_code == 200
    r = requests.post(svc.url(V2 + "/3pid/bind"), headers=auth,
                      json={"sid": sid, "client_secret": secret, "mxid": mxid(uid)})
    assert r.status_code == 200, r.text
