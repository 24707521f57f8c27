"""Shared by the it.replica.* tests: a private PostgreSQL cluster of the test's own (the
shared one is not paused or stopped under other tests), a real streaming replica of it
(pg_basebackup -R: standby.signal and primary_conninfo, on its own unix socket, over the
replication connection initdb's pg_hba allows on the socket), and a service over the
agriculture export (search_api_env) with database.replica set.

Nothing here sleeps a fixed time: every wait polls its condition with a deadline."""
import base64
import hashlib
import os
import shutil
import subprocess

import requests

import harness
from harness import metric, wait_until
from routing_env import homeservers_config, routing_config, write_mapping
from search_api_env import ENTRY, EXT, HS, MAPPING, SEARCH, UNMAPPED, source_config, write_ldif

V1 = "/_matrix/identity/api/v1"
V2 = "/_matrix/identity/v2"


def as_postgres(args):
    return ["runuser", "-u", "postgres", "--", *args] if os.getuid() == 0 else args


class Standby:
    """A hot standby of primary (a harness.Cluster), streaming from its socket."""

    def __init__(self, primary):
        self.primary = primary
        self.root = harness.tmp_root()
        os.chmod(self.root, 0o755)
        self.pgdir = os.path.join(self.root, "pg")
        self.datadir = os.path.join(self.pgdir, "data")
        self.sockdir = os.path.join(self.pgdir, "run")
        self.port = harness.PG_PORT
        owner = ["install", "-d", "-m", "700"]
        if os.getuid() == 0:
            owner += ["-o", "postgres", "-g", "postgres"]
        subprocess.run(owner + [self.pgdir], check=True)
        subprocess.run(as_postgres(["mkdir", "-p", self.sockdir]), check=True)
        subprocess.run(as_postgres([
            os.path.join(harness.PGBIN, "pg_basebackup"), "-h", primary.sockdir, "-p", str(primary.port),
            "-U", "postgres", "-D", self.datadir, "-R", "-X", "stream", "--no-sync",
            "-c", "fast"]), check=True, capture_output=True)
        # The copied postgresql.conf names the primary's socket directory: this one's own.
        conf = f"\n# the standby (replica_env.py)\nunix_socket_directories = '{self.sockdir}'\nhot_standby = on\n"
        subprocess.run(as_postgres(["sh", "-c", f"cat >> {self.datadir}/postgresql.conf"]), input=conf,
                       text=True, check=True)
        self.start()

    def start(self):
        subprocess.run(as_postgres([
            os.path.join(harness.PGBIN, "pg_ctl"), "-D", self.datadir, "-l", os.path.join(self.pgdir, "server.log"),
            "-w", "-t", "60", "-o", f"-p {self.port} -c listen_addresses=''", "start"]),
            check=True, capture_output=True)

    def stop(self, mode="immediate"):
        subprocess.run(as_postgres([os.path.join(harness.PGBIN, "pg_ctl"), "-D", self.datadir, "-m", mode, "-w",
                                    "-t", "60", "stop"]), check=True, capture_output=True)

    def destroy(self):
        subprocess.run(as_postgres([os.path.join(harness.PGBIN, "pg_ctl"), "-D", self.datadir, "-m",
                                    "immediate", "-w", "stop"]), capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)

    def psql(self, *commands, db="postgres"):
        args = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", self.sockdir, "-p", str(self.port),
                "-U", "postgres", "-d", db, "-At"]
        for c in commands:
            args += ["-c", c]
        return subprocess.run(as_postgres(args), check=True, capture_output=True, text=True).stdout

    def conninfo(self, db):
        return f"host={self.sockdir} port={self.port} dbname={db} user=annuaire"

    def pause(self):
        self.psql("SELECT pg_wal_replay_pause()")
        wait_until(lambda: self.psql("SELECT pg_get_wal_replay_pause_state()").strip() == "paused")

    def resume(self):
        self.psql("SELECT pg_wal_replay_resume()")

    def wait_replayed(self, timeout=60):
        """Until the standby has replayed what the primary has committed so far (the insert
        position: the write position trails commits made with synchronous_commit off; one
        just past a page's header counts as the page's start, as in core/db.c)."""
        lsn, page = self.primary.psql(
            "SELECT pg_current_wal_insert_lsn(), current_setting('wal_block_size')").strip().split("|")
        target = lsn_int(lsn)
        if 0 < target % int(page) <= 40:
            target -= target % int(page)
        wait_until(lambda: lsn_int(self.psql("SELECT pg_last_wal_replay_lsn()").strip()) >= target, timeout)


class ReplicaService(harness.Service):
    """harness.Service with database.replica (replica: anything with conninfo(db)) and
    database.replica_max_lag in its database section."""

    def __init__(self, cluster, replica, max_lag, **kw):
        self.replica, self.max_lag = replica, max_lag
        super().__init__(cluster, **kw)

    def write_config(self, extra):
        super().write_config(extra)
        with open(self.config_path) as f:
            text = f.read()
        lines = (f"  replica: \"{self.replica.conninfo(self.db)}\"\n"
                 f"  replica_max_lag: {self.max_lag}\n")
        head = "database:\n"
        assert text.startswith(head), text
        with open(self.config_path, "w") as f:
            f.write(head + lines + text[len(head):])


class ReplicaEnv:
    """Its own cluster and standby, and a service over the agriculture export (synced by
    the real `annuaire sync`) reading from the standby, with a fake homeserver and an SMTP
    sink (svc.hs, svc.sink, as test_leavers_api.bind wants). replica: "standby", or
    "primary" for a replica connection string that names the primary itself."""

    def __init__(self, tmp_path, max_lag=3600, replica="standby"):
        from fake_hs import FakeHomeserver
        from smtp_sink import SmtpSink

        self.cluster = harness.Cluster.create()
        self.standby = self.svc = self.hs = self.sink = None
        try:
            self.standby = Standby(self.cluster)
            self.hs = FakeHomeserver()
            self.sink = SmtpSink()
            ldif = tmp_path / "agri.ldif"
            write_ldif(ldif)
            # No rate limits: a limiter kept in the database would write on every request.
            config = (homeservers_config(self.hs, (HS, EXT) + UNMAPPED)
                      + routing_config(write_mapping(tmp_path, MAPPING)) + source_config(ldif)
                      + "ratelimit:\n  enabled: false\n")
            target = self.standby if replica == "standby" else self.cluster
            self.svc = ReplicaService(self.cluster, target, max_lag, config=config,
                                      smtp_port=self.sink.port)
            self.svc.hs, self.svc.sink = self.hs, self.sink
            r = self.svc.run("sync")
            assert r.returncode == 0, r.stdout + r.stderr
            self.standby.wait_replayed()
            self.svc.start()
        except BaseException:
            self.close()
            raise

    def close(self):
        try:
            if self.svc is not None:
                print(self.svc.read_log())  # shown when the test fails
            if self.svc is not None and self.svc.proc is not None:
                rc = self.svc.stop()
                assert rc == 0, self.svc.read_log()
        finally:
            if self.sink is not None:
                self.sink.stop()
            if self.hs is not None:
                self.hs.close()
            if self.standby is not None:
                self.standby.destroy()
            self.cluster.destroy()

    def bind_sql(self, address, mxid):
        """A binding written on the primary as a bind writes it (hashed with the pepper)."""
        self.svc.sql(
            "INSERT INTO annuaire.associations (medium, address, mxid, ts, not_before, not_after,"
            " lookup_hash) SELECT 'email', '%s', '%s', 0, 0, 4102444800000,"
            " annuaire.lookup_hash('%s', 'email', p.pepper) FROM annuaire.lookup_pepper p"
            % (address, mxid, address))

    def warm(self):
        """Until reads are served by the replica (it is measured on the first reads)."""
        def served():
            before = self.reads("replica")
            self.lookup_v1("nobody@agri.gouv.fr")
            return self.reads("replica") > before
        wait_until(served)
        assert self.state() == "fresh"

    def token(self, mxid):
        server = mxid.split(":", 1)[1]
        return {"Authorization": "Bearer " + harness.register(self.svc, self.hs, mxid, server=server)}

    def metrics(self):
        return requests.get(self.svc.url("/metrics"), timeout=10).text

    def reads(self, server):
        return metric(self.metrics(), "annuaire_db_reads_total", server=server)

    def state(self):
        text = self.metrics()
        states = [s for s in ("none", "unknown", "fresh", "stale", "down", "not_standby")
                  if metric(text, "annuaire_db_replica_state", state=s) == 1]
        assert len(states) == 1, text
        return states[0]

    def pepper(self, auth):
        r = requests.get(self.svc.url(V2 + "/hash_details"), headers=auth, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()["lookup_pepper"]

    def lookup(self, auth, addresses):
        """v2 sha256 lookup of e-mail addresses: {address: mxid} of those found."""
        pepper = self.pepper(auth)
        hashes = {lookup_hash(a, "email", pepper): a for a in addresses}
        r = requests.post(self.svc.url(V2 + "/lookup"), headers=auth, timeout=10, json={
            "algorithm": "sha256", "pepper": pepper, "addresses": list(hashes)})
        assert r.status_code == 200, r.text
        return {hashes[h]: mxid for h, mxid in r.json()["mappings"].items()}

    def lookup_v1(self, address):
        r = requests.get(self.svc.url(V1 + "/lookup"), params={"medium": "email", "address": address},
                         timeout=10)
        assert r.status_code == 200, r.text
        return r.json().get("mxid")

    def bulk_lookup(self, auth, addresses):
        r = requests.post(self.svc.url(V1 + "/bulk_lookup"), headers=auth, timeout=10,
                          json={"threepids": [["email", a] for a in addresses]})
        assert r.status_code == 200, r.text
        return {a: m for _, a, m in r.json()["threepids"]}

    def info(self, address):
        r = requests.get(self.svc.url(V1 + "/info"), params={"medium": "email", "address": address},
                         timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def search(self, auth, term):
        r = requests.post(self.svc.url(SEARCH), headers=auth, json={"term": term}, timeout=10)
        assert r.status_code == 200, r.text
        return {h["display_name"]: h.get("mxid") for h in r.json()["results"]}

    def entry(self, auth, address):
        r = requests.get(self.svc.url(ENTRY), headers=auth, params={"address": address}, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()


def lsn_int(text):
    hi, lo = text.split("/")
    return int(hi, 16) << 32 | int(lo, 16)


def lookup_hash(address, medium, pepper):
    d = hashlib.sha256(f"{address} {medium} {pepper}".encode()).digest()
    return base64.urlsafe_b64encode(d).decode().rstrip("=")
