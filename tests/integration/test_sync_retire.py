"""it.sync.retire: a source taken out of sync.sources. `sync --status` names it (to
retire); `sync --retire NAME --dry-run` says what retiring would do and changes nothing;
`sync --retire NAME` refuses a configured name, is guarded like a run (more than
sync.max_delete_percent of the annuaire's live entries needs --allow-mass-delete),
soft-deletes the source's entries, records a run and its audit entry, makes the bound
agents whose address no other entry holds leavers (as a removal by a run does), marks
the source retired; its entries are purged after sync.purge_after_days; a run of the
source put back in the configuration is refused (exit 4) until `--unretire`, which
brings its entries back."""
import harness
from test_sync_ldif import IMMEDIATE, entry, source


class Env:
    def __init__(self, cluster, tmp_path):
        self.tmp = tmp_path
        self.agri = tmp_path / "agri.ldif"
        self.culture = tmp_path / "culture.ldif"
        # culture: 3 agents, one of whom (shared) agri also has; agri: 30 agents.
        self.culture.write_text(entry("c1", "u-c1", ["c1@culture.gouv.fr"]) +
                                entry("c2", "u-c2", ["c2@culture.gouv.fr"]) +
                                entry("shared", "u-cs", ["shared@gouv.fr"]))
        self.agri.write_text("".join(entry(f"a{i}", f"u-a{i}", [f"a{i}@agri.gouv.fr"]) for i in range(29)) +
                             entry("shared", "u-as", ["shared@gouv.fr"]))
        self.svc = harness.Service(cluster, config=self.config(True))

    def config(self, with_culture):
        return ("sync:\n" + IMMEDIATE + "  sources:\n" + source("agri", self.agri, 20) +
                (source("culture", self.culture, 10) if with_culture else ""))

    def configure(self, with_culture):
        self.svc.write_config(self.config(with_culture))

    def sync(self, *args):
        return self.svc.run("sync", *args)

    def sql(self, query):
        return self.svc.cluster.psql(query, db=self.svc.db).strip()


def bind(env, address, mxid):
    env.sql("INSERT INTO annuaire.associations (medium, address, mxid, ts, not_before, not_after,"
            f" lookup_hash) VALUES ('email', '{address}', '{mxid}', 0, 0, 0, 'h-{mxid}')")


def live(env, source):
    return env.sql("SELECT count(*) FROM annuaire.directory_entries"
                   f" WHERE source = '{source}' AND deleted_at IS NULL")


def test_retire(cluster, tmp_path):
    env = Env(cluster, tmp_path)
    r = env.sync()
    assert r.returncode == 0, r.stdout + r.stderr
    bind(env, "c1@culture.gouv.fr", "@c1:agent.test")
    bind(env, "shared@gouv.fr", "@shared:agent.test")
    assert live(env, "culture") == "3"

    # Still configured: refused, whatever the flags.
    r = env.sync("--retire", "culture", "--dry-run")
    assert r.returncode == 2 and "source 'culture' is still in sync.sources" in r.stderr, r.stderr

    env.configure(False)
    status = env.sync("--status")
    assert status.returncode == 0, status.stderr
    assert "not in the configuration: run annuaire sync --retire culture" in status.stdout, status.stdout
    assert "--retire agri" not in status.stdout
    r = env.sync("--retire", "nope")
    assert r.returncode == 1 and "no source named 'nope' in the database" in r.stderr, r.stderr

    # Dry run: what it would do, nothing changed, nothing recorded.
    runs = env.sql("SELECT count(*) FROM annuaire.sync_runs")
    audit = env.sql("SELECT count(*) FROM annuaire.audit_log")
    r = env.sync("--retire", "culture", "--dry-run")
    assert r.returncode == 0, r.stdout + r.stderr
    assert ("source culture: retiring would soft-delete 3 live entries" in r.stdout and
            "3 addresses, 2 bound to a Matrix ID; 2 addresses no other live entry holds "
            "(leavers, 1 of them bound); 1 conflict ended" in r.stdout), r.stdout
    assert live(env, "culture") == "3"
    assert env.sql("SELECT count(*) FROM annuaire.sync_runs") == runs
    assert env.sql("SELECT count(*) FROM annuaire.audit_log") == audit
    assert env.sql("SELECT retired_at IS NULL FROM annuaire.sync_sources WHERE name = 'culture'") == "t"
    assert env.sql("SELECT count(*) FROM annuaire.directory_leavers") == "0"

    r = env.sync("--retire", "culture")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "source culture: retired: 3 live entries" in r.stdout, r.stdout
    assert live(env, "culture") == "0"
    assert live(env, "agri") == "30"
    # The run and its audit entry, as a sync run's.
    assert env.sql("SELECT mode, status, removed FROM annuaire.sync_runs WHERE source = 'culture'"
                   " ORDER BY id DESC LIMIT 1") == "retire|success|3"
    assert env.sql("SELECT actor_kind, outcome, details->>'mode', details->>'removed'"
                   " FROM annuaire.audit_log WHERE action = 'sync.run' AND object_id = 'culture'"
                   " ORDER BY id DESC LIMIT 1") == "cli|ok|retire|3"
    # Leavers as for a removal by a run: the addresses no other live entry holds.
    assert env.sql("SELECT string_agg(address || ':' || reason, ' ' ORDER BY address)"
                   " FROM annuaire.directory_leavers") == \
        "c1@culture.gouv.fr:removed c2@culture.gouv.fr:removed"
    r = env.svc.run("leavers")
    assert r.returncode == 0 and "@c1:agent.test" in r.stdout and "@shared" not in r.stdout, r.stdout
    # The shared address now belongs to agri.
    assert env.sql("SELECT source FROM annuaire.directory_addresses WHERE address = 'shared@gouv.fr'") == "agri"

    status = env.sync("--status").stdout
    assert "not in the configuration: retired at " in status and "--retire culture" not in status, status
    r = env.sync("--retire", "culture")
    assert r.returncode == 0 and "already retired" in r.stdout, r.stdout + r.stderr

    # Runs of the other sources leave it as it is.
    assert env.sync().returncode == 0
    assert live(env, "culture") == "0"

    # Configured again (a machine with an old configuration): its runs are refused, the
    # retire stands; the others run.
    env.configure(True)
    runs = env.sql("SELECT count(*) FROM annuaire.sync_runs WHERE source = 'culture'")
    r = env.sync("--source", "culture", "--dry-run")
    assert r.returncode == 4 and "culture: source culture was retired at " in r.stderr, r.stdout + r.stderr
    assert env.sql("SELECT count(*) FROM annuaire.sync_runs WHERE source = 'culture'") == runs
    r = env.sync()
    assert r.returncode == 4, r.stdout + r.stderr
    assert ("(annuaire sync --retire): refused; to bring it back: annuaire sync --source culture "
            "--unretire") in r.stderr, r.stderr
    assert "agri: success" in r.stdout and "culture:" not in r.stdout, r.stdout
    assert live(env, "culture") == "0"
    assert env.sql("SELECT retired_at IS NOT NULL FROM annuaire.sync_sources WHERE name = 'culture'") == "t"
    assert env.sql("SELECT mode, status FROM annuaire.sync_runs WHERE source = 'culture'"
                   " ORDER BY id DESC LIMIT 1") == "retired|refused"
    r = env.sync("--unretire")
    assert r.returncode == 2 and "--unretire needs --source NAME" in r.stderr, r.stderr
    r = env.sync("--source", "culture", "--unretire", "--dry-run")
    assert r.returncode == 0 and "culture: success (dry-run) added=3" in r.stdout, r.stdout + r.stderr
    assert env.sql("SELECT retired_at IS NOT NULL FROM annuaire.sync_sources WHERE name = 'culture'") == "t"

    # --unretire: the retire undone, audited, the entries back.
    r = env.sync("--source", "culture", "--unretire")
    assert r.returncode == 0 and "culture: success (full) added=3" in r.stdout, r.stdout + r.stderr
    assert env.sql("SELECT actor_kind, outcome FROM annuaire.audit_log WHERE action = 'sync.unretire'"
                   " AND object_id = 'culture'") == "cli|ok"
    assert live(env, "culture") == "3"
    assert env.sql("SELECT retired_at IS NULL FROM annuaire.sync_sources WHERE name = 'culture'") == "t"
    assert "not in the configuration" not in env.sync("--status").stdout
    assert env.sql("SELECT source FROM annuaire.directory_addresses WHERE address = 'shared@gouv.fr'") == "culture"


def test_retire_guard_and_purge(cluster, tmp_path):
    env = Env(cluster, tmp_path)
    assert env.sync().returncode == 0
    env.configure(False)
    # agri's 30 of the 33 live entries: over the 10% guard.
    env.svc.write_config("sync:\n" + IMMEDIATE + "  sources:\n" + source("culture", env.culture, 10))
    # A dry run applies the guard: it says the retire would be refused, and exits 4.
    r = env.sync("--retire", "agri", "--dry-run")
    assert r.returncode == 4 and ("retiring would remove 30 of the annuaire's 33 live entries "
                                  "(over sync.max_delete_percent, 10%): it would be refused") in r.stderr, \
        r.stdout + r.stderr
    assert env.sql("SELECT count(*) FROM annuaire.sync_runs WHERE source = 'agri' AND mode = 'retire'") == "0"
    r = env.sync("--retire", "agri", "--dry-run", "--allow-mass-delete")
    assert r.returncode == 0 and "source agri: retiring would soft-delete 30 live entries" in r.stdout, \
        r.stdout + r.stderr
    r = env.sync("--retire", "agri")
    assert r.returncode == 4 and "retiring would remove 30 of the annuaire's 33 live entries" in r.stderr, \
        r.stdout + r.stderr
    assert live(env, "agri") == "30"
    assert env.sql("SELECT mode, status FROM annuaire.sync_runs WHERE source = 'agri'"
                   " ORDER BY id DESC LIMIT 1") == "retire|refused"
    assert env.sql("SELECT outcome FROM annuaire.audit_log WHERE object_id = 'agri'"
                   " ORDER BY id DESC LIMIT 1") == "refused"
    r = env.sync("--retire", "agri", "--allow-mass-delete")
    assert r.returncode == 0, r.stdout + r.stderr
    assert live(env, "agri") == "0"
    assert env.sql("SELECT count(*) FROM annuaire.directory_entries WHERE source = 'agri'") == "30"
    # The soft-deleted entries of a retired source are purged after sync.purge_after_days
    # (30 by default), by the runs of the other sources.
    env.sql("UPDATE annuaire.directory_entries SET deleted_at = now() - interval '31 days'"
            " WHERE source = 'agri' AND key IN ('u-a1', 'u-a2')")
    assert env.sync("--dry-run").returncode == 0
    assert env.sql("SELECT count(*) FROM annuaire.directory_entries WHERE source = 'agri'") == "30"
    assert env.sync().returncode == 0
    assert env.sql("SELECT count(*) FROM annuaire.directory_entries WHERE source = 'agri'") == "28"
