"""it.replica.hung: the replica stops answering without closing anything (its server's
processes SIGSTOPped, as a black-holed host looks): lookups, several at once, still answer
200 from the primary, with what was written there since; /_matrix/identity/v2 answers; the
replica is marked down and the log says why once. SIGCONT: reads go back to it."""
import os
import signal
import subprocess
import threading

import requests

from harness import wait_until
from replica_env import V2, ReplicaEnv
from search_api_env import HS, address


def server_pids(datadir):
    """The postmaster of datadir (its postmaster.pid) and its children."""
    with open(os.path.join(datadir, "postmaster.pid")) as f:
        postmaster = int(f.readline())
    children = subprocess.run(["ps", "-o", "pid=", "--ppid", str(postmaster)], capture_output=True,
                              text=True, check=True).stdout.split()
    return [postmaster] + [int(p) for p in children]


def test_hung_replica(tmp_path):
    env = ReplicaEnv(tmp_path, max_lag=3600)
    stopped = []
    try:
        searcher = env.token(f"@searcher:{HS}")
        env.warm()
        for _ in range(8):  # several worker threads hold a replica connection
            env.lookup_v1("nobody@agri.gouv.fr")
        agent, mxid = address("flefevre"), "@flefevre:" + HS
        env.bind_sql(agent, mxid)  # on the primary only: the replica never gets it
        for pid in server_pids(env.standby.datadir):
            os.kill(pid, signal.SIGSTOP)
            stopped.append(pid)

        answers = []

        def lookup():
            r = requests.get(env.svc.url("/_matrix/identity/api/v1/lookup"),
                             params={"medium": "email", "address": agent}, timeout=30)
            answers.append((r.status_code, r.json().get("mxid")))

        threads = [threading.Thread(target=lookup) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert answers == [(200, mxid)] * 4, answers
        r = requests.get(env.svc.url(V2), timeout=30)
        assert r.status_code == 200, r.text
        for _ in range(3):
            assert env.lookup(searcher, [agent]) == {agent: mxid}
            assert env.lookup_v1(agent) == mxid
        wait_until(lambda: env.state() == "down")
        log = env.svc.read_log()
        assert log.count("db: the replica is unavailable") == 1, log
        assert "E_DB_UNAVAILABLE" not in log, log
    finally:
        for pid in stopped:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
    try:
        env.standby.wait_replayed()
        env.warm()
        assert env.lookup_v1(agent) == mxid
    finally:
        env.close()
