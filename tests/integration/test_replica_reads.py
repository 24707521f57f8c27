"""it.replica.reads: with database.replica set and the replica fresh (replica_max_lag 3600),
the reads that may lag are served by the streaming replica. Its replay paused, what is
written on the primary (a bind through the API: register, requestToken, submitToken and
bind, every one a write that works with a replica set; a binding to another server) is
not seen by v2 lookup, v1 lookup and bulk_lookup, /info, directory search and
identification, and /metrics counts those reads as the replica's; the new account's token
works at once (checked on the primary). Replay resumed, every read sees them."""
from harness import wait_until
from replica_env import ReplicaEnv
from search_api_env import HS, address
from test_leavers_api import bind

OTHER = "@hlefevre:autre.test"  # bound on another server: /info sends there


def test_reads_from_replica(tmp_path):
    env = ReplicaEnv(tmp_path, max_lag=3600)
    try:
        searcher = env.token(f"@searcher:{HS}")
        env.warm()
        flefevre, hlefevre = address("flefevre"), address("hlefevre")
        assert env.lookup(searcher, [flefevre, hlefevre]) == {}
        assert env.info(hlefevre)["hs"] == HS

        env.standby.pause()
        before = {s: env.reads(s) for s in ("replica", "primary")}
        mxid = bind(env.svc, "flefevre")  # a new account, then its token, at once
        env.bind_sql(hlefevre, OTHER)
        # Bound on the primary, not yet on the replica: every read answers as the replica.
        assert env.lookup(searcher, [flefevre, hlefevre]) == {}
        assert env.lookup_v1(flefevre) is None
        assert env.bulk_lookup(searcher, [flefevre, hlefevre]) == {}
        assert env.info(hlefevre)["hs"] == HS and "new_hs" not in env.info(hlefevre)
        assert env.search(searcher, "lefevre") == {"François Lefèvre": None, "Hélène Lefèvre": None}
        assert "mxid" not in env.entry(searcher, flefevre)
        assert env.reads("replica") >= before["replica"] + 8
        assert env.reads("primary") == before["primary"]
        assert env.state() == "fresh"

        env.standby.resume()
        wait_until(lambda: env.lookup(searcher, [flefevre, hlefevre]) == {flefevre: mxid, hlefevre: OTHER})
        assert env.lookup_v1(flefevre) == mxid
        assert env.bulk_lookup(searcher, [flefevre]) == {flefevre: mxid}
        info = env.info(hlefevre)
        assert info["hs"] == "autre.test" and info["new_hs"] == HS, info
        assert env.search(searcher, "lefevre") == {"François Lefèvre": mxid, "Hélène Lefèvre": OTHER}
        assert env.entry(searcher, flefevre)["mxid"] == mxid
        assert env.reads("primary") == before["primary"]
        log = env.svc.read_log()
        assert log.count("db: reading from the replica") == 1, log
        assert "reads go to the primary" not in log, log
    finally:
        env.close()
