import os

import pytest

import harness


def pytest_sessionstart(session):
    state = os.environ.get("ANNUAIRE_IT_PG")
    if not state or not os.path.exists(state):
        if os.environ.get("ANNUAIRE_TEST_REQUIRE_SERVICES") == "1":
            raise RuntimeError("the shared PostgreSQL fixture is not running")
        pytest.exit("no PostgreSQL fixture: skipped", returncode=77)


@pytest.fixture(scope="session")
def cluster():
    return harness.Cluster.shared()


@pytest.fixture
def service(cluster):
    """A migrated, running service on its own database."""
    with harness.Service(cluster) as svc:
        yield svc


@pytest.fixture
def identity(cluster):
    """A running service with a fake homeserver (hs.test) and a real SMTP server: (svc, sink, hs)."""
    from fake_hs import FakeHomeserver
    from smtp_sink import SmtpSink

    hs = FakeHomeserver()
    sink = SmtpSink()
    try:
        with harness.Service(cluster, config=harness.homeserver_config(hs), smtp_port=sink.port) as svc:
            yield svc, sink, hs
    finally:
        sink.stop()
        hs.close()
