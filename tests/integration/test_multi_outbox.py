"""it.multi.outbox: the outbox worked by two `serve` instances on one database, one of them
killed (SIGKILL) in the middle of a send: mails queued through both instances, before and
after the kill, are each accepted by a relay exactly once (counted by Message-ID over the
relays of both instances); the mail the dead instance had claimed goes again, from the
other, once its claim has run out (lease: 2 x (mail.smtp_timeout +
database.connect_timeout) + statement_timeout + 5 s, 16 s here)."""
import signal

import harness
from multi_env import NO_LIMITS, V1, HoldingSink, Pair, message_ids, request_token
from smtp_sink import SmtpSink

MAIL = "  smtp_timeout: 1\n"


def outbox(pair, what, where="true"):
    return pair.sql(f"SELECT {what} FROM annuaire.mail_outbox WHERE {where}").strip()


def test_one_instance_killed_mid_send(cluster):
    # a's relay holds a's third send at its RCPT TO; b has a relay of its own.
    relay_a = HoldingSink(hold_at=2)
    relay_b = SmtpSink()
    pair = Pair(cluster, config=NO_LIMITS, smtp_port=relay_a.port, smtp_port_b=relay_b.port,
                mail_extra=MAIL)
    a, b = pair.a, pair.b
    try:
        pair.start()
        before = [f"avant{i}@mer.gouv.fr" for i in range(12)]
        for i, rcpt in enumerate(before):
            assert request_token(a if i % 2 == 0 else b, rcpt, prefix=V1).status_code == 200
        assert relay_a.held.wait(30), "a never started a third send"
        held = outbox(pair, "message_id", f"recipient = '{relay_a.held_rcpt}'")
        assert outbox(pair, "claimed_until > now()", f"message_id = '{held}'") == "t"
        a.proc.send_signal(signal.SIGKILL)  # in the middle of its SMTP exchange
        a.proc.wait()
        relay_a.release()
        after = [f"apres{i}@mer.gouv.fr" for i in range(6)]
        for rcpt in after:
            assert request_token(b, rcpt, prefix=V1).status_code == 200
        harness.wait_until(lambda: outbox(pair, "count(*)", "sent_at IS NULL") == "0", timeout=90)
        assert b.stop() == 0  # no send can still be under way
        got = message_ids(relay_a, relay_b)
        queued = outbox(pair, "message_id").split("\n")
        assert len(queued) == len(before) + len(after)
        assert got == {m: 1 for m in queued}, got  # each once, none lost
        assert len(relay_a.messages) >= 2 and relay_b.messages  # both took part
        # The mail a held was sent again by b, after a's claim ran out: a second claim.
        assert held in queued and held not in message_ids(relay_a)
        assert outbox(pair, "attempts", f"message_id = '{held}'") == "2"
        log = b.read_log()
        assert "delivery may be repeated" not in log and "delivered twice" not in log
    finally:
        relay_a.release()
        pair.stop()
        relay_a.stop()
        relay_b.stop()
