"""Shared by the it.routing.* tests: a routing file with every kind of rule, and a
running service with it, a fake homeserver for each mapped server and an SMTP sink."""
import os
import subprocess

import harness

MAPPING = r"""
# Every kind of rule the reference's conformance list asks for.
platforms:
  - &interieur {hs: agent.interieur.test, shadow_hs: internet.interieur.test}
  - &culture {hs: agent.culture.test, region: "Île-de-France"}
  - &externes {hs: agent.externe.test, requires_invite: true}
medium:
  email:
    entries:
      # an exact entry that needs no invitation, on an agents' server
      prestataire@partenaire.test: {hs: agent.culture.test, requires_invite: false}
    patterns:
      - '.*@interieur\.gouv\.fr': *interieur          # a protected server with a twin
      - '.*@(.*\.|)culture\.gouv\.fr': *culture       # a domain and its subdomains
      - '.*@(.*\.|)xn--intrieur-d1a\.test': *interieur  # an internationalised domain
      - '.*': *externes                                # everyone else, by invitation
"""

SERVERS = ("agent.interieur.test", "internet.interieur.test", "agent.culture.test",
           "agent.externe.test")

V1 = "/_matrix/identity/api/v1"
V2 = "/_matrix/identity/v2"


def write_mapping(tmp_path, text=MAPPING):
    path = tmp_path / "info.yaml"
    path.write_text(text)
    return path


def homeservers_config(hs, names=SERVERS + ("hs.test",)):
    """Config lines that map each server name to the one fake homeserver."""
    return "account:\n  homeservers: {" + ", ".join(f'"{name}": "{hs.base_url}"' for name in names) + "}\n"


def routing_config(path, hs=None, extra="", routing_extra=""):
    homeservers = homeservers_config(hs) if hs is not None else ""
    return (homeservers + "routing:\n" f"  info_file: {path}\n" + routing_extra + extra)


class Services:
    """Services a test starts, each with its own fake homeserver and SMTP sink; close()
    checks that each serve stops cleanly."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.made = []

    def start(self, config_of, **kwargs):
        """config_of(hs): the service's configuration. Returns (svc, sink, hs), started."""
        from fake_hs import FakeHomeserver
        from smtp_sink import SmtpSink
        hs = FakeHomeserver()
        sink = SmtpSink()
        svc = harness.Service(self.cluster, smtp_port=sink.port, config=config_of(hs), **kwargs)
        self.made.append((svc, sink, hs))
        svc.start()
        return svc, sink, hs

    def close(self):
        for svc, sink, hs in self.made:
            try:
                assert svc.stop() == 0, svc.read_log()
            finally:
                sink.stop()
                hs.close()


def sync_culture(svc):
    """The Culture sample directory into the service's annuaire (two agents)."""
    r = svc.run("sync")
    assert r.returncode in (0, 3), r.stdout + r.stderr


def culture_source():
    data = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "culture.ldif")
    return ("sync:\n  sources:\n    - name: culture\n      ministry: \"Ministère de la Culture\"\n"
            f"      priority: 10\n      ldif: {data}\n")


def routing_check(*args):
    return subprocess.run([harness.BIN, "routing", "check", *args], capture_output=True, text=True,
                          timeout=30)
