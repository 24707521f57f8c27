"""it.invite.onbind_once: each onbind callback reaches the homeserver once, with two
`serve` instances on one database and a homeserver that takes longer to answer than the
first retry delay: an instance claims one callback at a time, for longer than a call can
take. (A failed callback is retried after its backoff, not the claim: it.invite.onbind.)"""
import collections
import json

import harness
from fake_hs import FakeHomeserver


def queue(cluster, db, n):
    values = ", ".join(f"('hs.test', '{json.dumps({'n': i})}', '{{}}')" for i in range(n))
    cluster.psql(f"INSERT INTO annuaire.onbind_queue (destination, body, tokens) VALUES {values}",
                 db=db)


def pending(cluster, db):
    return cluster.psql("SELECT count(*) FROM annuaire.onbind_queue WHERE done_at IS NULL",
                        db=db).strip()


def test_two_instances_slow_homeserver(cluster):
    hs = FakeHomeserver()
    hs.onbind_delay = 1.5  # past the first retry delay (1 s) of a claimed batch
    config = harness.homeserver_config(hs)
    a = harness.Service(cluster, config=config)
    b = harness.Service(cluster, db=a.db, migrate=False, config=config)
    assert b.run("keys", "generate").returncode == 0
    try:
        queue(cluster, a.db, 8)
        a.start()
        b.start()
        harness.wait_until(lambda: pending(cluster, a.db) == "0", timeout=90)
        assert a.stop() == 0 and b.stop() == 0  # no call can still be under way
        got = collections.Counter(body["n"] for status, body in hs.onbind)
        assert got == collections.Counter(range(8)), got
        assert "delivered to hs.test" in a.read_log() and "delivered to hs.test" in b.read_log()
    finally:
        for svc in (a, b):
            if svc.proc is not None:
                svc.stop()
        hs.close()

