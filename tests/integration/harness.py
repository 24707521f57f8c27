"""Helpers for the integration tests: a private PostgreSQL cluster (through
scripts/pg-cluster), and the real annuaire binary run as a subprocess with its
own configuration, database and free port."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid

import requests

SRC = os.environ.get("ANNUAIRE_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BIN = os.environ.get("ANNUAIRE_BIN", os.path.join(SRC, "build", "annuaire"))
PGBIN = "/usr/lib/postgresql/15/bin"
PG_CLUSTER = os.path.join(SRC, "scripts", "pg-cluster")
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tmp_root():
    """A directory the postgres user can reach when we run as root."""
    return tempfile.mkdtemp(prefix="annuaire-it-", dir="/tmp")


class Cluster:
    """A private PostgreSQL cluster with a unix socket in ROOT/pg/run."""

    def __init__(self, root, port):
        self.root = root
        self.port = port
        self.pgdir = os.path.join(root, "pg")
        self.sockdir = os.path.join(self.pgdir, "run")

    @classmethod
    def create(cls):
        root = tmp_root()
        os.chmod(root, 0o755)
        cluster = cls(root, free_port())
        cluster.start()
        cluster.psql("CREATE ROLE annuaire LOGIN")
        return cluster

    @classmethod
    def shared(cls):
        with open(os.environ["ANNUAIRE_IT_PG"]) as f:
            st = json.load(f)
        return cls(st["root"], st["port"])

    def start(self):
        subprocess.run([PG_CLUSTER, "start", self.pgdir, str(self.port)], check=True)

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
    """annuaire with its own config file, database and port."""

    def __init__(self, cluster, db=None, config=None, migrate=True, smtp_port=None, http_extra="",
                 mail_extra="", public_metrics=True, threads=2):
        self.cluster = cluster
        self.threads = threads  # http.threads
        self.http_extra = http_extra  # more lines of the http: section
        if public_metrics:  # most tests read /metrics on the one listener they start
            self.http_extra = "  public_metrics: true\n" + self.http_extra
        self.mail_extra = mail_extra  # more lines of the mail: section
        self.smtp_port = smtp_port or free_port()  # nothing listens there unless a test starts a sink
        self.db = db or cluster.create_database()
        self.port = free_port()
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
                f"  port: {self.port}\n"
                f"  threads: {self.threads}\n"
                "  shutdown_timeout: 5\n"
                + self.http_extra +
                "log:\n"
                "  level: info\n"
                "keys:\n"
                f"  signing_key_file: {self.key_path}\n"
                "mail:\n"
                f"  templates_dir: {os.path.join(SRC, 'conf', 'templates')}\n"
                f"  smtp_port: {self.smtp_port}\n"
                "  from: \"Tchap <noreply@is.test>\"\n"
                "  retry_initial_delay: 1\n"
                + self.mail_extra +
                "server:\n"
                "  name: is.test\n"
                f"  public_base_url: http://127.0.0.1:{self.port}\n"
                + extra
            )

    def run(self, *args, env=None):
        if args[0] in ("keys", "pepper"):  # "keys generate -c FILE", "pepper rotate -c FILE"
            args = args[:2] + ("-c", self.config_path) + args[2:]
        else:
            args = (args[0], "-c", self.config_path) + args[1:]
        return subprocess.run([BIN, *args], capture_output=True, text=True, env=env, timeout=60)

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self, wait=True):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([BIN, "serve", "-c", self.config_path], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited with {self.proc.returncode}:\n{self.read_log()}")
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
