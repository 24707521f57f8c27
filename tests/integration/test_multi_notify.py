"""it.multi.notify: a mail queued by another process on the database (`annuaire invite`, an
instance that runs no sender) is sent by the running `serve`'s sender at once, woken by
NOTIFY annuaire_outbox, not by its fallback poll.

Why only NOTIFY can explain it: a sender with nothing due sleeps until the next row is due,
30 s at most (core/worker.c), and nothing but its own instance's queueing (not used here)
or a notification wakes it earlier. The test has it send a first mail (its last wake-up is
then known: that delivery), queues the second one from the other process within 15 s of
that, and requires the delivery within 10 s of queueing: before the poll, which comes 30 s
after the first delivery at the earliest. Without LISTEN it fails (the mail goes ~30 s
after the first one). Not a latency measurement: only the bound is asserted."""
import time

import harness
from multi_env import NO_LIMITS, V1, request_token
from routing_env import routing_config
from smtp_sink import SmtpSink

MAPPING = r"""
medium:
  email:
    patterns:
      - '.*@partenaire\.test': {hs: agent.externe.test, requires_invite: true}
      - '.*@culture\.gouv\.fr': {hs: agent.culture.test}
"""
POLL_S = 30  # the sender's longest sleep (core/worker.c, next_due_ms)
BOUND_S = 10


def test_mail_queued_elsewhere_sent_before_the_poll(cluster, tmp_path):
    path = tmp_path / "info.yaml"
    path.write_text(MAPPING)
    sink = SmtpSink()
    try:
        with harness.Service(cluster, config=routing_config(path) + NO_LIMITS,
                             smtp_port=sink.port) as svc:
            assert request_token(svc, "premier@culture.gouv.fr", prefix=V1).status_code == 200
            sink.wait(1)
            first = time.monotonic()  # the sender's last wake-up: it then sleeps up to POLL_S
            time.sleep(1)  # past its second look at the outbox (nothing due)
            r = svc.run("invite", "invite.ailleurs@partenaire.test", "--json")
            assert r.returncode == 0, r.stderr
            queued = time.monotonic()
            assert queued - first < POLL_S - BOUND_S - 5, "queued too late to tell"
            got = sink.wait(2, timeout=BOUND_S)[1]
            assert got[1] == ["invite.ailleurs@partenaire.test"]
            assert time.monotonic() - first < POLL_S  # before any poll could have sent it
    finally:
        sink.stop()
