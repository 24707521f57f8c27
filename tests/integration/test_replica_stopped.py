"""it.replica.stopped: the replica stops (pg_ctl stop -m immediate) under a running
service: lookups (v2, v1, bulk), hash_details, /info, directory search and identification
all answer 200 from the primary, with what was written there since, never an error (each
thread falls back on its own, the next check marks the replica down for all); the
outage is logged once; the replica started again, reads go back to it."""
import requests

from harness import metric, wait_until
from replica_env import V2, ReplicaEnv
from search_api_env import HS, address


def test_stopped_replica(tmp_path):
    env = ReplicaEnv(tmp_path, max_lag=3600)
    try:
        searcher = env.token(f"@searcher:{HS}")
        env.warm()
        agent, mxid = address("flefevre"), "@flefevre:" + HS
        env.standby.stop("immediate")
        env.bind_sql(agent, mxid)
        for _ in range(3):  # every worker thread's replica connection is gone
            assert env.lookup(searcher, [agent]) == {agent: mxid}
            assert env.lookup_v1(agent) == mxid
            assert env.bulk_lookup(searcher, [agent]) == {agent: mxid}
            r = requests.get(env.svc.url(V2 + "/hash_details"), headers=searcher, timeout=10)
            assert r.status_code == 200, r.text
            assert env.info(agent)["hs"] == HS
            assert env.search(searcher, "lefevre")["François Lefèvre"] == mxid
            assert env.entry(searcher, agent)["mxid"] == mxid
        # Each thread fell back on its own; the next check (a second later) says it for all.
        wait_until(lambda: env.lookup_v1(agent) == mxid and env.state() == "down")
        text = env.metrics()
        assert all(not line.split("status=\"")[1].startswith("5")
                   for line in text.splitlines() if line.startswith("annuaire_http_requests_total")), text
        log = env.svc.read_log()
        assert log.count("db: the replica is unavailable") == 1, log
        assert "E_DB_UNAVAILABLE" not in log, log

        env.standby.start()
        env.warm()
        assert env.lookup(searcher, [agent]) == {agent: mxid}
        log = env.svc.read_log()
        assert log.count("db: reading from the replica") == 2, log
        assert metric(env.metrics(), "annuaire_db_errors_total", kind="connect") == 0
    finally:
        env.close()
