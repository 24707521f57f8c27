"""it.routing.patterns: the service's matching (PCRE2, with patterns indexed by the literal
text they end with) gives the same decision as the reference's (Python's re, the first
pattern that matches the whole lower-cased address, ignoring case) on patterns of every
shape: groups, classes, alternatives, quantifiers, escapes, anchors, shared endings."""
import re

from routing_env import routing_check

PATTERNS = [
    r".*@(.*\.|)alpha\.gouv\.fr",
    r".*@beta\.gouv\.fr",
    r"[a-z]+\.[a-z]+@gamma\.fr",
    r"admin@(delta|epsilon)\.fr",
    r"x+@zeta\.fr",
    r".*@eta\.f.",
    r"a|.*@theta\.fr",
    r".*@iota\.(fr|com)",
    r".*@kappa\.fr$",
    r".*@LAMBDA\.FR",
    r".*@mu\d\.fr",
    r".*@nu\-xi\.fr",
    r"(?:.*)@omicron\.fr",
    r".*@pi\.fr{1,2}",
    r"j.*@sigma\.gouv\.fr",
    r".+@sigma\.gouv\.fr",
    r".*@(rho|tau)\.gouv\.fr",
    r"[^@]+@upsilon\.fr",
    r".*@phi\.gouv\.fr|.*@chi\.gouv\.fr",
    r".*",
]

ADDRESSES = [
    "a@alpha.gouv.fr", "a@sub.alpha.gouv.fr", "a@xalpha.gouv.fr", "a@beta.gouv.fr",
    "a@sub.beta.gouv.fr", "jean.dupont@gamma.fr", "jean@gamma.fr", "admin@delta.fr",
    "admin@epsilon.fr", "admin@eta.fr", "admin@eta.fx", "xxx@zeta.fr", "y@zeta.fr",
    "a@theta.fr", "b@iota.com", "b@iota.org", "b@kappa.fr", "b@lambda.fr", "B@Lambda.FR",
    "b@mu5.fr", "b@mux.fr", "b@nu-xi.fr", "b@omicron.fr", "b@pi.frr", "b@pi.frrr",
    "jean@sigma.gouv.fr", "paul@sigma.gouv.fr", "p@rho.gouv.fr", "p@tau.gouv.fr",
    "p@upsilon.fr", "p@chi.gouv.fr", "p@phi.gouv.fr", "UPPER@ALPHA.GOUV.FR",
    "someone@example.org", "a@alpha.gouv.fr.example.org",
]


def test_same_decisions_as_the_reference(tmp_path):
    path = tmp_path / "info.yaml"
    lines = ["medium:", "  email:", "    patterns:"]
    for i, p in enumerate(PATTERNS):
        lines.append(f"      - '{p}': {{hs: h{i}.test}}")
    path.write_text("\n".join(lines) + "\n")
    r = routing_check("--file", str(path), *ADDRESSES)
    assert r.returncode == 0, r.stderr
    got = dict(line.split(": hs=", 1) for line in r.stdout.splitlines())
    for address in ADDRESSES:
        norm = address.lower()
        want = next(i for i, p in enumerate(PATTERNS) if re.fullmatch(p, norm, re.IGNORECASE))
        assert got[norm].split()[0] == f"h{want}.test", (address, got[norm], PATTERNS[want])
