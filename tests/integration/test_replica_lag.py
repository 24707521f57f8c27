"""it.replica.lag: a replica whose replay is paused falls behind once the primary writes;
past database.replica_max_lag (1 s) reads go to the primary, which has the new binding
(polled, no fixed sleep), /metrics says stale with the lag, and the log says it once;
replay resumed, the replica catches up and is read from again (logged once more)."""
from harness import metric, wait_until
from replica_env import ReplicaEnv
from search_api_env import HS, address


def test_lagging_replica(tmp_path):
    env = ReplicaEnv(tmp_path, max_lag=1)
    try:
        searcher = env.token(f"@searcher:{HS}")
        env.warm()
        agent = address("flefevre")
        env.standby.pause()
        env.bind_sql(agent, "@flefevre:" + HS)
        # First from the replica (not yet behind by a second), then from the primary.
        wait_until(lambda: env.lookup(searcher, [agent]) == {agent: "@flefevre:" + HS})
        assert env.lookup_v1(agent) == "@flefevre:" + HS
        assert env.state() == "stale"
        assert metric(env.metrics(), "annuaire_db_replica_lag_seconds") >= 1
        primary = env.reads("primary")
        assert env.search(searcher, "lefevre")["François Lefèvre"] == "@flefevre:" + HS
        assert env.reads("primary") > primary
        log = env.svc.read_log()
        assert log.count("db: the replica lags") == 1, log

        env.standby.resume()
        env.warm()  # read from the replica again
        assert env.lookup(searcher, [agent]) == {agent: "@flefevre:" + HS}
        assert 0 <= metric(env.metrics(), "annuaire_db_replica_lag_seconds") < 1
        log = env.svc.read_log()
        assert log.count("db: reading from the replica") == 2, log
        assert log.count("db: the replica lags") == 1, log
        assert metric(env.metrics(), "annuaire_db_replica_fallbacks_total") == 0
    finally:
        env.close()
