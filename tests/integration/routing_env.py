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


def routing_config(path, hs=None, extra="", routing_extra=""):
    homeservers = ""
    if hs is not None:
        homeservers = "account:\n  homeservers: {" + ", ".join(
            f'"{name}": "{hs.base_url}"' for name in SERVERS + ("hs.test",)) + "}\n"
    return (homeservers + "routing:\n" f"  info_file: {path}\n" + routing_extra + extra)


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
