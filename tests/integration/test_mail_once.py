"""it.mail.once: every queued mail is delivered once and only once.

- two `serve` instances on one database and a slow relay: each of 20 mails arrives
  exactly once (a sender claims one mail at a time, for longer than a send takes);
- PostgreSQL stops right after the relay accepted a mail: the service says delivery
  may be repeated (never "delivered"), and the resend carries the same Message-ID;
- a relay that answers 451 first: the resend carries the same Message-ID;
- mail waiting for a relay that did not answer goes as soon as a delivery succeeds
  again, not when its (long) backoff runs out."""
import collections

import pytest
import requests

import harness
import ports
from smtp_sink import SmtpSink

V1 = "/_matrix/identity/api/v1"
NO_LIMITS = "ratelimit:\n  enabled: false\n"


def request_token(svc, email):
    r = requests.post(svc.url(V1 + "/validate/email/requestToken"),
                      json={"client_secret": "once", "email": email, "send_attempt": 1})
    assert r.status_code == 200, r.text


def outbox(cluster, db, what):
    return cluster.psql(f"SELECT {what} FROM annuaire.mail_outbox", db=db).strip()


def test_two_instances_slow_relay(cluster):
    sink = SmtpSink(delay=0.3)
    a = harness.Service(cluster, smtp_port=sink.port, config=NO_LIMITS)
    b = harness.Service(cluster, db=a.db, migrate=False, smtp_port=sink.port, config=NO_LIMITS)
    assert b.run("keys", "generate").returncode == 0
    try:
        a.start()
        b.start()
        wanted = [f"agent{i}@mer.gouv.fr" for i in range(20)]
        for i, rcpt in enumerate(wanted):
            request_token(a if i % 2 == 0 else b, rcpt)
        harness.wait_until(lambda: outbox(cluster, a.db, "count(*) FILTER (WHERE sent_at IS NULL)") == "0")
        # Both instances stopped: no send can still be under way.
        assert a.stop() == 0 and b.stop() == 0
        got = collections.Counter(m[1][0] for m in sink.messages)
        assert got == collections.Counter(wanted), got
        assert outbox(cluster, a.db, "count(*) FILTER (WHERE sent_at IS NOT NULL)") == "20"
        for svc in (a, b):
            log = svc.read_log()
            assert "delivered (" in log  # both took part
            assert "delivery may be repeated" not in log and "delivered twice" not in log
    finally:
        for svc in (a, b):
            if svc.proc is not None:
                svc.stop()
        sink.stop()


@pytest.fixture
def own_cluster():
    cluster = harness.Cluster.create()  # stopped during the test: not the shared one
    yield cluster
    cluster.destroy()


def test_database_lost_after_relay_accepted(own_cluster):
    stopped = []

    def stop_database(msg):
        if not stopped:  # before the 250: the service's update finds no database
            own_cluster.stop()
            stopped.append(msg["Message-ID"])

    sink = SmtpSink(before_accept=stop_database)
    svc = harness.Service(own_cluster, smtp_port=sink.port, mail_extra="  smtp_timeout: 5\n")
    try:
        with svc:
            request_token(svc, "resent@mer.gouv.fr")
            first = sink.wait(1)[0][2]
            assert svc.wait_log("cannot be marked as sent: delivery may be repeated", timeout=15), \
                svc.read_log()
            log = svc.read_log()
            assert "delivered (" not in log, log
            assert first["Message-ID"] in log  # the WARN names what a resend will carry
            own_cluster.start()
            second = sink.wait(2, timeout=90)[1][2]
            assert second["Message-ID"] == first["Message-ID"]
            assert second["To"] == first["To"]
            harness.wait_until(lambda: outbox(own_cluster, svc.db, "sent_at IS NOT NULL") == "t")
            assert svc.wait_log("delivered (Message-ID " + first["Message-ID"])
            assert outbox(own_cluster, svc.db, "message_id") == first["Message-ID"]
    finally:
        sink.stop()


def test_relay_refuses_once(cluster):
    sink = SmtpSink(refuse_first=1)
    try:
        with harness.Service(cluster, smtp_port=sink.port) as svc:
            request_token(svc, "again@mer.gouv.fr")
            accepted = sink.wait(1, timeout=30)[0][2]
            assert len(sink.refused) == 1
            assert accepted["Message-ID"] == sink.refused[0][2]["Message-ID"]
            assert svc.wait_log("not delivered, will retry")
    finally:
        sink.stop()


def test_backoff_resets_when_relay_answers(cluster):
    port = ports.reserve()  # nothing listens there until the relay comes back
    # An hour before the first retry: only the reset can bring the first mail out.
    svc = harness.Service(cluster, smtp_port=port)
    with open(svc.config_path) as f:
        config = f.read()
    with open(svc.config_path, "w") as f:
        f.write(config.replace("retry_initial_delay: 1\n", "retry_initial_delay: 3600\n"))
    with svc:
        request_token(svc, "early@mer.gouv.fr")
        harness.wait_until(lambda: outbox(svc.cluster, svc.db, "last_error IS NOT NULL") == "t")
        assert outbox(svc.cluster, svc.db, "next_attempt_at > now() + interval '30 minutes'") == "t"
        sink = SmtpSink(port)  # the relay is back
        try:
            request_token(svc, "later@mer.gouv.fr")
            msgs = sink.wait(2, timeout=30)
            assert sorted(m[1][0] for m in msgs) == ["early@mer.gouv.fr", "later@mer.gouv.fr"]
        finally:
            sink.stop()
