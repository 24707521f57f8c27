"""it.db.restart: the database restarts under the running service; requests during
the outage get 503 M_UNKNOWN, the first request after recovery works, the process
is never restarted."""
import time

import pytest
import requests

import harness
from harness import assert_matrix_error, metric


@pytest.fixture
def own_cluster():
    cluster = harness.Cluster.create()  # restarting the shared one would disturb other tests
    yield cluster
    cluster.destroy()


def test_database_restart(own_cluster):
    with harness.Service(own_cluster) as svc:
        pid = svc.proc.pid
        # Warm every worker thread's connection.
        for _ in range(20):
            assert requests.get(svc.url("/health")).status_code == 200

        own_cluster.stop()
        for _ in range(6):
            assert_matrix_error(requests.get(svc.url("/health"), timeout=10), 503, "M_UNKNOWN")
        # Endpoints that need no database keep answering.
        assert requests.get(svc.url("/_matrix/identity/v2")).status_code == 200

        own_cluster.start()
        # Every request after recovery works, on every worker thread.
        for _ in range(20):
            r = requests.get(svc.url("/health"), timeout=10)
            assert r.status_code == 200, r.text
        assert svc.proc.pid == pid and svc.proc.poll() is None
        text = requests.get(svc.url("/metrics")).text
        assert metric(text, "annuaire_db_errors_total", kind="connect") >= 1
        assert metric(text, "annuaire_http_requests_total", route="GET /health", status="503") == 6
        # The outage is logged once when it starts and once when it ends, not per request.
        log = svc.read_log()
        assert log.count("db: unavailable") == 1, log
        assert log.count("db: available again") == 1, log
        assert "E_DB_UNAVAILABLE" not in log, log


def test_database_restart_with_idle_connections(own_cluster):
    """A restart while nothing is running: the stale connections are noticed before use."""
    with harness.Service(own_cluster) as svc:
        for _ in range(10):
            assert requests.get(svc.url("/health")).status_code == 200
        own_cluster.stop()
        own_cluster.start()
        time.sleep(0.2)
        for _ in range(10):
            r = requests.get(svc.url("/health"), timeout=10)
            assert r.status_code == 200, r.text
