"""Shared by the it.search.* tests: the agriculture ministry's LDIF export (accented names,
a family of Bernards to page through, a hidden, a disabled and a soon removed agent, a
contractor whose address routes to the externals' platform), a service that syncs it
through the real `annuaire sync`, and the calls to the annuaire's search endpoints."""
import pytest
import requests

import harness
from fake_hs import FakeHomeserver
from routing_env import homeservers_config, routing_config, write_mapping
from smtp_sink import SmtpSink

SEARCH = "/_annuaire/v1/directory/search"
ENTRY = "/_annuaire/v1/directory/entry"
HS = "agent.agri.test"
EXT = "agent.externe.test"
# Servers the fake homeserver also answers for, which the mapping does not name: a user of
# them may register, and may not search.
UNMAPPED = ("evil.example", f"{HS}:8448")
MINISTRY = "Ministère de l'Agriculture"
MAPPING = ("medium:\n  email:\n    patterns:\n"
           "      - '.*@agri\\.gouv\\.fr': {hs: agent.agri.test}\n"
           "      - '.*': {hs: agent.externe.test, requires_invite: true}\n")

# uid: (given name, surname, entity, extra LDIF lines)
AGENTS = {
    "flefevre": ("François", "Lefèvre", "Bureau des semences", ""),
    "hlefevre": ("Hélène", "Lefèvre", "Service de la forêt", ""),
    "jpdangelo": ("Jean-Pierre", "D'Angelo", "Bureau des semences", ""),
    "masque": ("Marc", "Masqué", "Cabinet", "supannListeRouge: TRUE"),
    "parti": ("Paul", "Désactivé", "Cabinet", "userAccountControl: 514"),
    "sortant": ("Sophie", "Sortante", "Cabinet", ""),
}
# Seven agents of one surname, to page through.
AGENTS.update({f"{letter}bernard": (g, "Bernard", "Service de la forêt", "") for letter, g in
               zip("abcdefg", ("Anne", "Bruno", "Claire", "David", "Émile", "Fanny", "Gaël"))})
BERNARDS = {f"{g} Bernard" for g, s, _, _ in AGENTS.values() if s == "Bernard"}
CONTRACTOR = "prestataire@partenaire.test"  # in the export, routed to the externals


def address(uid):
    return f"{uid}@agri.gouv.fr"


def ldif_entry(n, uid, given, surname, entity, mails, extra=""):
    lines = [f"dn: uid={uid},ou=people,dc=agri,dc=gouv,dc=fr", "objectClass: inetOrgPerson",
             f"uid: {uid}", f"cn: {given} {surname}", f"givenName: {given}", f"sn: {surname}",
             f"displayName: {given} {surname}", f"ou: {entity}",
             f"entryUUID: 3c000000-0000-4000-8000-{n:012d}"]
    lines += [f"mail: {m}" for m in mails]
    if extra:
        lines.append(extra)
    return "\n".join(lines) + "\n\n"


def write_ldif(path, absent=()):
    text = "version: 1\n\n"
    for n, (uid, (given, surname, entity, extra)) in enumerate(AGENTS.items(), 1):
        if uid not in absent:
            text += ldif_entry(n, uid, given, surname, entity, [address(uid)], extra)
    text += ldif_entry(99, "prestataire", "Pierre", "Prestataire", "Cabinet", [CONTRACTOR])
    path.write_text(text)


def source_config(path):
    return ("sync:\n  removal_grace_runs: 0\n  removal_grace_seconds: 0\n  sources:\n"
            f"    - name: agri\n      ministry: \"{MINISTRY}\"\n      priority: 10\n"
            f"      ldif: {path}\n      attributes:\n        hidden: supannListeRouge\n"
            "        disabled: userAccountControl\n")


class SearchEnv:
    """A running service over the synced export, its fake homeserver (both servers) and SMTP
    sink. search_extra: lines of the search: section."""

    def __init__(self, cluster, tmp_path, search_extra=""):
        self.hs = FakeHomeserver()
        self.sink = SmtpSink()
        self.ldif = tmp_path / "agri.ldif"
        write_ldif(self.ldif)
        self.base = (homeservers_config(self.hs, (HS, EXT) + UNMAPPED)
                     + routing_config(write_mapping(tmp_path, MAPPING)) + source_config(self.ldif))
        self.svc = harness.Service(cluster, config=self.base + self.search_section(search_extra),
                                   smtp_port=self.sink.port)
        self.svc.hs, self.svc.sink = self.hs, self.sink
        self.sync()
        self.svc.start()

    @staticmethod
    def search_section(extra):
        return "search:\n" + extra if extra else ""

    def sync(self, *args):
        r = self.svc.run("sync", *args)
        assert r.returncode == 0, r.stdout + r.stderr
        return r

    def restart(self, search_extra):
        """The same database under another search section."""
        assert self.svc.stop() == 0, self.svc.read_log()
        self.svc.write_config(self.base + self.search_section(search_extra))
        self.svc.start()

    def token(self, mxid):
        """An identity access token of mxid ("Authorization" headers)."""
        server = mxid.split(":", 1)[1]
        return {"Authorization": "Bearer " + harness.register(self.svc, self.hs, mxid, server=server)}

    def search(self, auth, body, headers=None):
        return requests.post(self.svc.url(SEARCH), headers={**(auth or {}), **(headers or {})},
                             json=body, timeout=10)

    def entry(self, auth, **params):
        return requests.get(self.svc.url(ENTRY), headers=auth or {}, params=params, timeout=10)

    def close(self):
        try:
            rc = self.svc.stop()
            assert rc == 0, self.svc.read_log()
        finally:
            self.sink.stop()
            self.hs.close()


@pytest.fixture
def env(cluster, tmp_path):
    """A SearchEnv with the default search section."""
    e = SearchEnv(cluster, tmp_path)
    try:
        yield e
    finally:
        e.close()


def ok(resp):
    """The body of a 200."""
    assert resp.status_code == 200, resp.text
    return resp.json()
