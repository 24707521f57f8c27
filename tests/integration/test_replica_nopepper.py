"""it.replica.nopepper: a fresh replica that has no pepper row yet (the primary's first
pepper made after what it has replayed, within replica_max_lag) does not make
hash_details or a lookup answer 503: they are answered by the primary, with its pepper
and its bindings."""
import requests

from replica_env import V2, ReplicaEnv
from search_api_env import HS, address


def test_replica_without_pepper(tmp_path):
    env = ReplicaEnv(tmp_path, max_lag=3600)
    try:
        searcher = env.token(f"@searcher:{HS}")
        env.warm()
        env.svc.sql("DELETE FROM annuaire.lookup_pepper")
        env.standby.wait_replayed()
        env.standby.pause()
        env.svc.sql("INSERT INTO annuaire.lookup_pepper (pepper) VALUES ('firstpepper0')")
        agent, mxid = address("flefevre"), "@flefevre:" + HS
        env.bind_sql(agent, mxid)
        before = env.reads("replica")
        r = requests.get(env.svc.url(V2 + "/hash_details"), headers=searcher, timeout=10)
        assert r.status_code == 200, r.text
        assert r.json()["lookup_pepper"] == "firstpepper0"
        assert env.lookup(searcher, [agent]) == {agent: mxid}
        r = requests.post(env.svc.url(V2 + "/lookup"), headers=searcher, timeout=10, json={
            "algorithm": "none", "pepper": "firstpepper0", "addresses": [agent + " email"]})
        assert r.status_code in (200, 400), r.text  # "none" may be off: never a 503
        assert env.reads("replica") > before  # the replica was read, and had no pepper
        assert env.state() == "fresh"
        assert "E_DB_UNAVAILABLE" not in env.svc.read_log()
    finally:
        env.standby.resume()
        env.close()
