"""it.replica.primary: database.replica naming the primary itself (a server not in
recovery) is never read from: reads work, all from the primary, /metrics says
not_standby, and the log says why once."""
from harness import wait_until
from replica_env import ReplicaEnv
from search_api_env import HS, address


def test_replica_that_is_the_primary(tmp_path):
    env = ReplicaEnv(tmp_path, max_lag=3600, replica="primary")
    try:
        searcher = env.token(f"@searcher:{HS}")
        agent, mxid = address("flefevre"), "@flefevre:" + HS
        env.bind_sql(agent, mxid)
        for _ in range(10):
            assert env.lookup(searcher, [agent]) == {agent: mxid}
            assert env.lookup_v1(agent) == mxid
        wait_until(lambda: env.state() == "not_standby")
        assert env.reads("replica") == 0
        assert env.reads("primary") >= 20
        log = env.svc.read_log()
        assert log.count("db: database.replica is not used") == 1, log
        assert "reading from the replica" not in log, log
    finally:
        env.close()
