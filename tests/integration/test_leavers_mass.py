"""it.leavers.mass: the statement triggers of directory_entries (leavers, search on update)
plan their statements over the transition tables at each call, for the rows the statement
changed: a mass change joins old and new rows by hashing, also right after a one-row change
in the same session (whose plan, kept, was a nested loop: 10^10 comparisons at 100,000
rows), and the few addresses that leave are still looked up in the GIN index of mails.
The plans are read from auto_explain (nested statements, at NOTICE level)."""
import json
import re
import subprocess

import harness
from test_sync_ldif import IMMEDIATE, entry, source

N = 2000
FIRST = "u-00000"
# A join that reads each side once (a nested loop reads one side for each row of the other).
HASHED = ("Hash Join", "Merge Join")


def write_export(path, count):
    path.write_text("".join(entry(f"a{i:05d}", f"u-{i:05d}", [f"a{i:05d}@agri.gouv.fr"])
                            for i in range(count)))


def plans(svc, *statements):
    """Runs the statements in one session with every nested plan sent to the client: for
    each statement, the plans (auto_explain's JSON) that it and its triggers ran."""
    args = [harness.PG_CLUSTER, "psql", svc.cluster.pgdir, "-d", svc.db, "-At",
            "-v", "ON_ERROR_STOP=1",
            "-c", "LOAD 'auto_explain'",
            "-c", "SET auto_explain.log_min_duration = 0",
            "-c", "SET auto_explain.log_nested_statements = on",
            "-c", "SET auto_explain.log_format = json",
            "-c", "SET auto_explain.log_level = notice",
            "-c", "SET client_min_messages = notice"]
    for i, s in enumerate(statements):
        args += ["-c", f"\\warn ==statement {i}", "-c", s]
    r = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    parts = re.split(r"^==statement \d+$", r.stderr, flags=re.M)[1:]
    assert len(parts) == len(statements), r.stderr
    return [[json.loads(p[p.index("{"):]) for p in re.split(r"^NOTICE:  duration: ", part, flags=re.M)
             if "plan:" in p]
            for part in parts]


def over(plans_, *relations):
    """The plans of the statements that read every one of the named transition tables."""
    found = [p for p in plans_ if all(re.search(rf"\b{r}\b", p["Query Text"]) for r in relations)]
    assert found, "no plan over " + ", ".join(relations) + ":\n" + json.dumps(plans_, indent=1)
    return found


def scans(node, path=()):
    """The paths (the nodes from the top) to every scan of a transition table."""
    path = path + (node,)
    if node["Node Type"] == "Named Tuplestore Scan":
        yield path
    for child in node.get("Plans", []):
        yield from scans(child, path)


def join_of_transition_tables(plan):
    """The node type that joins the statement's two transition tables (the deepest node
    above both of their scans)."""
    paths = list(scans(plan["Plan"]))
    assert len(paths) == 2, json.dumps(plan, indent=1)
    common = 0
    while paths[0][common] is paths[1][common]:
        common += 1
    return paths[0][common - 1]["Node Type"]


def index_probes(node):
    """The indexes the plan reads."""
    if "Index Name" in node:
        yield node["Index Name"]
    for child in node.get("Plans", []):
        yield from index_probes(child)


def seq_scans(node):
    if node["Node Type"] == "Seq Scan":
        yield node["Relation Name"]
    for child in node.get("Plans", []):
        yield from seq_scans(child)


def test_mass_changes(cluster, tmp_path):
    export = tmp_path / "agri.ldif"
    write_export(export, N)
    svc = harness.Service(cluster, config="sync:\n" + IMMEDIATE + "  sources:\n" +
                          source("agri", export))
    r = svc.run("sync")
    assert r.returncode == 0, r.stdout + r.stderr

    # One entry's title, then every other one's, in one session: no leaver, no search change.
    one, rest = plans(
        svc,
        f"UPDATE annuaire.directory_entries SET title = 'Directrice' WHERE key = '{FIRST}'",
        f"UPDATE annuaire.directory_entries SET title = 'Directrice' WHERE key <> '{FIRST}'")
    for p in over(rest, "leavers_old", "leavers_new") + over(rest, "search_old", "search_new"):
        assert join_of_transition_tables(p) in HASHED, json.dumps(p, indent=1)
    assert svc.sql("SELECT count(*) FROM annuaire.directory_leavers").strip() == "0"

    # The same in a session of its own: the leavers' test over all the rows is hashed too.
    (alone,) = plans(svc, "UPDATE annuaire.directory_entries SET title = 'Cheffe de projet'")
    for p in over(alone, "leavers_old", "leavers_new") + over(alone, "search_old", "search_new"):
        assert join_of_transition_tables(p) in HASHED, json.dumps(p, indent=1)

    # A few entries removed after a mass change in the same session, the entries never
    # analyzed (as after a first sync): each leaving address is an index probe of mails,
    # not a scan of the entries.
    _, few = plans(
        svc,
        f"UPDATE annuaire.directory_entries SET title = 'Chargée de mission' WHERE key <> '{FIRST}'",
        "UPDATE annuaire.directory_entries SET deleted_at = now() WHERE key IN ('u-00001', 'u-00002')")
    inserts = [p for p in over(few, "leavers_old", "leavers_new")
               if "INSERT INTO annuaire.directory_leavers" in p["Query Text"]]
    assert len(inserts) == 1, json.dumps(few, indent=1)
    assert "directory_entries_mails_idx" in index_probes(inserts[0]["Plan"]), json.dumps(inserts, indent=1)
    assert "directory_entries" not in seq_scans(inserts[0]["Plan"]), json.dumps(inserts, indent=1)
    assert svc.sql("SELECT address, reason FROM annuaire.directory_leavers ORDER BY id").split() == \
        ["a00001@agri.gouv.fr|removed", "a00002@agri.gouv.fr|removed"]

    # A sync run that removes all but one entry: every other address leaves, recorded once,
    # and the search no longer finds them.
    write_export(export, 1)
    r = svc.run("sync", "--allow-mass-delete")
    assert r.returncode == 0, r.stdout + r.stderr
    assert svc.sql("SELECT count(*), count(DISTINCT address) FROM annuaire.directory_leavers"
                   " WHERE reason = 'removed'").strip() == f"{N - 1}|{N - 1}"
    assert svc.sql("SELECT count(DISTINCT id) FROM annuaire.search_postings").strip() == "1"
