"""Helpers for the integration tests: a private PostgreSQL cluster (through
scripts/pg-cluster, on a unix socket only), and the real annuaire binary run as a
subprocess with its own configuration, database and port (reserved, see ports.py,
or 0: the one the service got, read from its log)."""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

import requests

import ports

SRC = os.environ.get("ANNUAIRE_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BIN = os.environ.get("ANNUAIRE_BIN", os.path.join(SRC, "build", "annuaire"))
PGBIN = "/usr/lib/postgresql/15/bin"
PG_CLUSTER = os.path.join(SRC, "scripts", "pg-cluster")
PG_PORT = 5432  # only names the socket file in the cluster's own directory: no TCP
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")
LISTENING = re.compile(r"listening on 127\.0\.0\.1 port (\d+) with \d+ threads$", re.M)


def tmp_root():
    """A directory the postgres user can reach when we run as root."""
    return tempfile.mkdtemp(prefix="annuaire-it-", dir="/tmp")


class Cluster:
    """A private PostgreSQL cluster listening on a unix socket in ROOT/pg/run only."""

    def __init__(self, root):
        self.root = root
        self.port = PG_PORT
        self.pgdir = os.path.join(root, "pg")
        self.sockdir = os.path.join(self.pgdir, "run")

    @classmethod
    def create(cls):
        root = tmp_root()
        os.chmod(root, 0o755)
        cluster = cls(root)
        cluster.start()
        cluster.psql("CREATE ROLE annuaire LOGIN")
        return cluster

    @classmethod
    def shared(cls):
        with open(os.environ["ANNUAIRE_IT_PG"]) as f:
            st = json.load(f)
        return cls(st["root"])

    def start(self):
        subprocess.run([PG_CLUSTER, "start", self.pgdir], check=True)

    def stop(self):
        subprocess.run([PG_CLUSTER, "stop", self.pgdir], check=True)

    def destroy(self):
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def psql(self, *commands, db="postgres"):
        args = [PG_CLUSTER, "psql", self.pgdir, "-d", db, "-At"]
        for c in commands:
            args += ["-c", c]
        return subprocess.run(args, check=True, capture_output=True, text=True).stdout

    def create_database(self):
        name = "it_" + uuid.uuid4().hex[:12]
        self.psql(f"CREATE DATABASE {name} OWNER annuaire")
        return name

    def conninfo(self, db):
        return f"host={self.sockdir} port={self.port} dbname={db} user=annuaire"


class Service:
    """annuaire with its own config file, database and port.

    port: None reserves one (ports.reserve), so that server.public_base_url, written
    before the service runs, names it (the links of the mails work); 0 lets the service
    bind one itself, read from its log line at start (public_base_url then names no
    listener). smtp_port: where the relay is; by default a reserved port where nothing
    listens (delivery fails and is retried)."""

    def __init__(self, cluster, db=None, config=None, migrate=True, smtp_port=None, http_extra="",
                 mail_extra="", public_metrics=True, threads=2, port=None, templates_dir=None,
                 admin=False, mail_retry_delay=1):
        self.cluster = cluster
        self.mail_retry_delay = mail_retry_delay  # mail.retry_initial_delay
        # admin: an admin listener on a reserved port (admin_url)
        self.admin_port = ports.reserve() if admin else None
        self.templates_dir = templates_dir or os.path.join(SRC, "conf", "templates")
        self.threads = threads  # http.threads
        self.http_extra = http_extra  # more lines of the http: section
        if public_metrics:  # most tests read /metrics on the one listener they start
            self.http_extra = "  public_metrics: true\n" + self.http_extra
        self.mail_extra = mail_extra  # more lines of the mail: section
        self.smtp_port = smtp_port or ports.reserve()
        self.db = db or cluster.create_database()
        self.config_port = ports.reserve() if port is None else port  # http.port
        self.port = self.config_port or None  # known once serve says where it listens
        base = os.environ.get("ANNUAIRE_IT_TMP")
        if base:
            os.makedirs(base, exist_ok=True)
        self.dir = tempfile.mkdtemp(prefix="svc-", dir=base)
        self.config_path = os.path.join(self.dir, "annuaire.yaml")
        self.log_path = os.path.join(self.dir, "serve.log")
        self.proc = None
        self.key_path = os.path.join(self.dir, "signing.key")
        self.write_config(config or "")
        if migrate:
            r = self.run("migrate")
            assert r.returncode == 0, r.stderr
            r = self.run("keys", "generate")
            assert r.returncode == 0, r.stderr

    def write_config(self, extra):
        with open(self.config_path, "w") as f:
            f.write(
                "database:\n"
                f"  conninfo: \"{self.cluster.conninfo(self.db)}\"\n"
                "  connect_timeout: 2\n"
                "http:\n"
                f"  port: {self.config_port}\n"
                f"  threads: {self.threads}\n"
                "  shutdown_timeout: 5\n"
                + self.http_extra +
                "log:\n"
                "  level: info\n"
                "keys:\n"
                f"  signing_key_file: {self.key_path}\n"
                "mail:\n"
                f"  templates_dir: {self.templates_dir}\n"
                f"  smtp_port: {self.smtp_port}\n"
                "  from: \"Tchap <noreply@is.test>\"\n"
                f"  retry_initial_delay: {self.mail_retry_delay}\n"
                + self.mail_extra +
                "server:\n"
                "  name: is.test\n"
                f"  public_base_url: http://127.0.0.1:{self.config_port}\n"
                + (f"admin:\n  port: {self.admin_port}\n" if self.admin_port else "")
                + extra
            )

    def run(self, *args, env=None):
        if args[0] in ("keys", "pepper"):  # "keys generate -c FILE", "pepper rotate -c FILE"
            args = args[:2] + ("-c", self.config_path) + args[2:]
        else:
            args = (args[0], "-c", self.config_path) + args[1:]
        return subprocess.run([BIN, *args], capture_output=True, text=True, env=env, timeout=60)

    def admin_url(self, path):
        assert self.admin_port is not None, "the service has no admin listener (admin=True)"
        return f"http://127.0.0.1:{self.admin_port}{path}"

    def sql(self, *commands):
        """Runs SQL in the service's database; rows as psql -At prints them."""
        return self.cluster.psql(*commands, db=self.db)

    def url(self, path):
        assert self.port is not None, "serve has not said where it listens yet"
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self, wait=True):
        if not self.config_port:
            self.port = None  # a new port each start
        self.log_start = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([BIN, "serve", "-c", self.config_path], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        if wait:
            self.wait_ready()
        return self

    def listening_port(self):
        """The port of the public listener, from the log line of the running serve, or None."""
        with open(self.log_path, errors="replace") as f:
            f.seek(self.log_start)
            m = LISTENING.search(f.read())
        return int(m.group(1)) if m else None

    def wait_ready(self, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited with {self.proc.returncode}:\n{self.read_log()}")
            if self.port is None:
                self.port = self.listening_port()
                if self.port is None:
                    time.sleep(0.05)
                    continue
            try:
                if requests.get(self.url("/_matrix/identity/v2"), timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        raise AssertionError("serve did not become ready:\n" + self.read_log())

    def wait_log(self, text, timeout=5):
        """Waits until text is in the log (access lines are written once the reply is sent)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.read_log():
                return True
            time.sleep(0.02)
        return False

    def read_log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM, timeout=20):
        """Stops serve and checks it exits cleanly, without sanitizer reports."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("serve did not stop:\n" + self.read_log())
        self.proc = None
        self.log.close()
        self.check_log()
        return rc

    def check_log(self):
        text = self.read_log()
        for marker in SANITIZER_MARKERS:
            assert marker not in text, text

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        rc = self.stop()
        if exc[0] is None:
            assert rc == 0, f"serve exited with {rc}:\n{self.read_log()}"
        shutil.rmtree(self.dir, ignore_errors=True)


def assert_matrix_error(resp, status, errcode):
    assert resp.status_code == status, (resp.status_code, resp.text)
    body = resp.json()
    assert body["errcode"] == errcode, body
    assert isinstance(body["error"], str) and body["error"], body
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.headers["Access-Control-Allow-Origin"] == "*"


def metric(text, name, **labels):
    """Value of one Prometheus sample, or None."""
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pat = re.compile(r"^" + re.escape(name) + (r"\{" + re.escape(want) + r"\}" if want else "") + r" (\S+)$", re.M)
    m = pat.search(text)
    return float(m.group(1)) if m else None


def wait_until(check, timeout=60):
    """Polls check() until it is true; fails the test when timeout seconds pass first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached")


def homeserver_config(hs, name="hs.test"):
    """Config lines that map a server name to a fake homeserver."""
    return f"account:\n  homeservers: {{\"{name}\": \"{hs.base_url}\"}}\n"


def register(svc, hs, user_id, server="hs.test"):
    """An identity access token for user_id, through /account/register and the fake homeserver."""
    oid = "oid-" + uuid.uuid4().hex
    hs.tokens[oid] = user_id
    r = requests.post(svc.url("/_matrix/identity/v2/account/register"), json={
        "access_token": oid, "token_type": "Bearer", "matrix_server_name": server, "expires_in": 60})
    assert r.status_code == 200, r.text
    return r.json()["token"]
