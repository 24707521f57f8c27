"""it.replica.otherdb: database.replica naming another database (a standby of the right
cluster, but the copy of another service's database) is never read from: the service
answers with its own database's bindings, all from the primary, /metrics says
not_standby and the log says why once."""
import requests

from harness import wait_until
from replica_env import V1, ReplicaEnv, ReplicaService
from search_api_env import HS, address


class OtherDatabase:
    """The standby, but always its copy of database name, whatever the service's."""

    def __init__(self, standby, name):
        self.standby, self.name = standby, name

    def conninfo(self, db):
        return self.standby.conninfo(self.name)


def test_replica_of_another_database(tmp_path):
    env = ReplicaEnv(tmp_path, max_lag=3600)
    other = None
    try:
        agent = address("flefevre")
        env.bind_sql(agent, "@flefevre:" + HS)  # in the first service's database only
        env.standby.wait_replayed()
        env.warm()  # the first service reads that copy
        other = ReplicaService(env.cluster, OtherDatabase(env.standby, env.svc.db), 3600)
        other.start()
        other.sql("INSERT INTO annuaire.associations (medium, address, mxid, ts, not_before,"
                  " not_after, lookup_hash) VALUES ('email', 'own@agri.gouv.fr', '@own:" + HS
                  + "', 0, 0, 4102444800000, 'x')")
        env.standby.wait_replayed()

        def v1(a):
            r = requests.get(other.url(V1 + "/lookup"), params={"medium": "email", "address": a},
                             timeout=10)
            assert r.status_code == 200, r.text
            return r.json().get("mxid")

        for _ in range(10):
            assert v1(agent) is None
            assert v1("own@agri.gouv.fr") == "@own:" + HS
        wait_until(lambda: 'annuaire_db_replica_state{state="not_standby"} 1' in
                   requests.get(other.url("/metrics"), timeout=10).text)
        text = requests.get(other.url("/metrics"), timeout=10).text
        assert 'annuaire_db_reads_total{server="replica"} 0' in text, text
        log = other.read_log()
        assert log.count("db: database.replica is not used: its database is not the primary's") == 1, log
        assert "reading from the replica" not in log, log
    finally:
        if other is not None and other.proc is not None:
            assert other.stop() == 0, other.read_log()
        env.close()
