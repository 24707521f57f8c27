"""Shared by the it.search.* tests: LDIF exports of agents written from a few fields,
a service whose sources are those exports (synced for real by `annuaire sync`), and
`annuaire search --json` run against it."""
import json

import harness


def person(uid, n, cn, sn=None, given=None, ou=None, mails=None, extra=()):
    """One inetOrgPerson record; n makes its entryUUID."""
    lines = [f"dn: uid={uid},ou=people,dc=agri,dc=gouv,dc=fr", "objectClass: inetOrgPerson",
             f"uid: {uid}", f"cn: {cn}", f"displayName: {cn}", f"sn: {sn or cn}",
             f"entryUUID: 3d000000-0000-4000-8000-{n:012d}"]
    if given:
        lines.append(f"givenName: {given}")
    if ou:
        lines.append(f"ou: {ou}")
    lines += [f"mail: {m}" for m in (mails or [f"{uid}@agri.gouv.fr"])]
    return "\n".join(lines + list(extra)) + "\n\n"


def write_ldif(path, records):
    path.write_text("version: 1\n\n" + "".join(records))


def sources_config(sources, extra=""):
    """sources: (name, ministry, path); the removal grace off, hidden and disabled read."""
    text = "sync:\n  removal_grace_runs: 0\n  removal_grace_seconds: 0\n  sources:\n"
    for name, ministry, path in sources:
        text += (f"    - name: {name}\n      ministry: \"{ministry}\"\n      ldif: {path}\n"
                 "      attributes:\n        hidden: supannListeRouge\n"
                 "        disabled: userAccountControl\n")
    return text + extra


def sync(svc):
    r = svc.run("sync", "--allow-mass-delete")
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def search(svc, term, *options):
    """The page `annuaire search --json` prints."""
    r = svc.run("search", "--json", *options, term)
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout)


def names(svc, term, *options):
    return [h["display_name"] for h in search(svc, term, *options)["results"]]


def service(cluster, config):
    return harness.Service(cluster, config=config)


def by_id(svc, display_names):
    """display_names in the order of their entries' ids (the last key of the order)."""
    rows = svc.sql("SELECT display_name || '|' || id FROM annuaire.directory_entries")
    ids = dict(line.split("|") for line in rows.splitlines() if "|" in line)
    return sorted(display_names, key=lambda n: int(ids[n]))


def synced(cluster, tmp_path, records):
    """A service whose one source (agri, ministry Agriculture) holds records, synced."""
    path = tmp_path / "agri.ldif"
    write_ldif(path, records)
    svc = service(cluster, sources_config([("agri", "Agriculture", path)]))
    sync(svc)
    return svc
