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
    r".*@x\x2efr",
    r".*@y\101\.fr",
    r"[]a]x@z\.fr",
    r".*\.sec@w\.gouv\.fr",
    r".*@w\.gouv\.fr",
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
    "someone@example.org", "a@alpha.gouv.fr.example.org", "a@x.fr", "a@ya.fr", "ax@z.fr",
    "jean.sec@w.gouv.fr", "jean.ſec@w.gouv.fr", "jean@w.gouv.fr",
]


def test_same_decisions_as_the_reference(tmp_path):
    path = tmp_path / "info.yaml"
    lines = ["medium:", "  email:", "    patterns:"]
    for i, p in enumerate(PATTERNS):
        lines.append(f"      - '{p}': {{hs: h{i}.test}}")
    path.write_text("\n".join(lines) + "\n")
    r = routing_check("--file", str(path), *ADDRESSES)
    assert r.returncode == 0, r.stderr
    # An address without a canonical form (jean.\u017fec: U+017F folds onto 's') is matched
    # as typed, as /info does; the decision is the reference's all the same.
    got = dict(line.replace(" (not an e-mail address: matched as typed)", "").split(": hs=", 1)
               for line in r.stdout.splitlines())
    assert len(got) == len({a.lower() for a in ADDRESSES}), r.stdout
    for address in ADDRESSES:
        norm = address.lower()
        want = next(i for i, p in enumerate(PATTERNS) if re.fullmatch(p, norm, re.IGNORECASE))
        assert got[norm].split()[0] == f"h{want}.test", (address, got[norm], PATTERNS[want])


def test_pcre_only_forms(tmp_path):
    """Forms Python's re lacks: POSIX classes, \\p, \\g, \\c and verbs are matched, never
    skipped because of the text they seem to end with."""
    cases = [(r".*@[[:alpha:]]\.fr", "a@b.fr"), (r".*@\pL", "a@b"), (r"(a)@\g1", "a@a"),
             (r".*@(*ACCEPT)x\.fr", "a@"), (r".*@[^]x]\.fr", "a@b.fr")]
    path = tmp_path / "info.yaml"
    lines = ["medium:", "  email:", "    patterns:"]
    for i, (p, _) in enumerate(cases):
        lines.append(f"      - '{p}': {{hs: h{i}.test}}")
    lines.append("      - '.*': {hs: other.test}")
    for i, (_, address) in enumerate(cases):
        # Each address alone, so that only its own pattern (or none before it) can take it.
        path.write_text("\n".join(lines[:3] + [lines[3 + i], lines[-1]]) + "\n")
        r = routing_check("--file", str(path), address)
        assert r.returncode == 0, r.stderr
        assert f"hs=h{i}.test" in r.stdout, (cases[i], r.stdout)


def test_runaway_pattern_and_nul(tmp_path):
    """A pattern that backtracks without end is cut short, logged once, and taken as no
    match; a pattern with a NUL character does not load."""
    path = tmp_path / "info.yaml"
    path.write_text("medium:\n  email:\n    patterns:\n      - '(a|aa)*c@x\\.fr': {hs: slow.test}\n"
                    "      - '.*': {hs: other.test}\n")
    r = routing_check("--file", str(path), "a" * 300 + "bc@x.fr")
    assert r.returncode == 0, r.stderr
    assert "hs=other.test" in r.stdout and "could not be tried" in r.stderr, r.stdout + r.stderr
    path.write_text('medium:\n  email:\n    patterns:\n      - "a\\0b": {hs: x.test}\n')
    r = routing_check("--file", str(path), "a@b.fr")
    assert r.returncode == 1 and "without NUL characters" in r.stderr, r.stderr
