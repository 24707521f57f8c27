"""it.sync.long_values: an entry whose display name, given name, surname, entity or title
is over 1024 bytes is rejected (counted, named in the run's report with its key, the
attribute and the reason) and the rest of the source is applied and searchable, on the
first run (COPY) and on the next (staging); a display name under that bound is kept whole,
and its search_name (the exact-name tier) cut to at most 256 bytes at a word boundary."""
import json
import random

import harness
from search_env import names, person, sources_config, write_ldif

# Letters drawn at random do not compress: values as long as these would not fit in a
# btree index entry (2704 bytes), which a repeated letter would, once compressed.
RNG = random.Random(1024)


def words(n_bytes):
    """Lower-case ASCII words, one space between them, exactly n_bytes long."""
    text = ""
    while len(text) < n_bytes:
        text += ("" if not text else " ") + "".join(
            RNG.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(RNG.randint(3, 11)))
    text = text[:n_bytes]
    return text[:-1] + "x" if text.endswith(" ") else text


LONG_NAME = words(3000)
LONG_OU = words(2000)
NAME_600 = words(600)
GOOD = {"cdubois": "Claire Dubois", "mpetit": "Marc Petit", "lgirard": "Léa Girard"}


def key(n):
    return f"3d000000-0000-4000-8000-{n:012d}"


def report(svc):
    return json.loads(svc.sql("SELECT report::text FROM annuaire.sync_runs ORDER BY id DESC LIMIT 1"))


def test_long_values(cluster, tmp_path):
    path = tmp_path / "agri.ldif"
    records = [person(uid, n, cn, ou="Bureau des semences") for n, (uid, cn) in
               enumerate(GOOD.items(), 1)]
    records += [person("longname", 4, LONG_NAME, sn="Long", ou="Bureau des semences"),
                person("longou", 5, "Odile Longue", sn="Longue", ou=LONG_OU),
                person("name600", 6, NAME_600, sn="Moyen", ou="Bureau des semences")]
    write_ldif(path, records)
    svc = harness.Service(cluster, config=sources_config([("agri", "Agriculture", path)]))

    for run in ("first", "second"):
        r = svc.run("sync")
        assert r.returncode == 3, r.stdout + r.stderr  # partial: applied, some rejected
        counts = ("added=4 changed=0 removed=0 unchanged=0 rejected=2" if run == "first" else
                  "added=0 changed=0 removed=0 unchanged=4 rejected=2")
        assert f"agri: partial (full) {counts}" in r.stdout, r.stdout
        rejected = sorted((item for item in report(svc) if "rejected" in item),
                          key=lambda item: item["key"])
        assert rejected == [
            {"rejected": "uid=longname,ou=people,dc=agri,dc=gouv,dc=fr", "key": key(4),
             "attribute": "displayName",
             "reason": "displayName: 3000 bytes, over the 1024 a name, entity or title may have"},
            {"rejected": "uid=longou,ou=people,dc=agri,dc=gouv,dc=fr", "key": key(5),
             "attribute": "ou",
             "reason": "ou: 2000 bytes, over the 1024 a name, entity or title may have"},
        ], rejected
        assert svc.sql("SELECT string_agg(key, ',' ORDER BY key)"
                       " FROM annuaire.directory_entries").strip() == ",".join(
                           key(n) for n in (1, 2, 3, 6))
        # The others are found.
        assert names(svc, "dubois") == ["Claire Dubois"]
        assert names(svc, "lea girard") == ["Léa Girard"]
        assert names(svc, "longue") == [] and names(svc, "long") == []

    # 600 bytes: stored whole; its exact-name key is the longest run of its first whole
    # words that fits in 256 bytes.
    row = svc.sql("SELECT display_name || '|' || search_name FROM annuaire.directory_entries"
                  f" WHERE key = '{key(6)}'").strip()
    display_name, search_name = row.split("|")
    assert display_name == NAME_600
    cut = NAME_600[:257].rsplit(" ", 1)[0]
    assert len(cut) <= 256 and NAME_600.startswith(cut + " ")
    assert search_name == cut
    assert names(svc, NAME_600.split()[0] + " " + NAME_600.split()[1]) == [NAME_600]
