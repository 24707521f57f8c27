"""Shared by the it.multi.* tests: two `serve` instances on one database, as an operator runs
them behind a load balancer (same signing key file content, the pepper in the database),
each on its own port with its own configuration file, and an SMTP sink that can hold a
sender in the middle of its SMTP exchange (to kill it there)."""
import asyncio
import collections
import re
import shutil
import threading

import requests

import harness
from smtp_sink import SmtpSink

V1 = "/_matrix/identity/api/v1"
V2 = "/_matrix/identity/v2"
NO_LIMITS = "ratelimit:\n  enabled: false\n"


def second(a, config="", smtp_port=None, **kwargs):
    """Another instance on a's database, with a's signing key (copied to its own file, as
    a second machine would have it) and its own port and configuration."""
    b = harness.Service(a.cluster, db=a.db, migrate=False, config=config,
                        smtp_port=smtp_port or a.smtp_port, **kwargs)
    shutil.copy2(a.key_path, b.key_path)
    return b


class Pair:
    """Instances a and b on one new database (not started: start())."""

    def __init__(self, cluster, config="", smtp_port=None, smtp_port_b=None, **kwargs):
        self.a = harness.Service(cluster, config=config, smtp_port=smtp_port, **kwargs)
        self.b = second(self.a, config=config, smtp_port=smtp_port_b or smtp_port, **kwargs)
        self.cluster = cluster
        self.db = self.a.db

    def start(self):
        self.a.start()
        self.b.start()
        return self

    def sql(self, *commands):
        return self.a.sql(*commands)

    def stop(self):
        """Stops both (a killed one is only reaped); serve's exit code of each, None when
        it was not running."""
        return [svc.stop() if svc.proc is not None else None for svc in (self.a, self.b)]

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        rcs = self.stop()
        for svc in (self.a, self.b):
            shutil.rmtree(svc.dir, ignore_errors=True)
        if exc[0] is None:
            assert all(rc in (0, None) for rc in rcs), rcs


def other_port(url, svc):
    """url (a link of a mail, naming the instance that sent it) on svc's port."""
    return re.sub(r"^(https?://127\.0\.0\.1:)\d+", lambda m: m.group(1) + str(svc.port), url)


def request_token(svc, email, auth=None, secret="sec", attempt=1, prefix=V2):
    return requests.post(svc.url(prefix + "/validate/email/requestToken"), headers=auth or {},
                         json={"client_secret": secret, "email": email, "send_attempt": attempt},
                         timeout=10)


def link_of(sink, sid):
    """The submitToken link of session sid, from the mail the sink received."""
    def find(msg):
        m = re.search(r"https?://\S+submitToken\S+", msg.get_body(("plain",)).get_content())
        return m.group(0) if m and f"sid={sid}" in m.group(0) else None
    return find(sink.wait_for(find)[2])


def message_ids(*sinks):
    """How many times each Message-ID was accepted, over every sink."""
    return collections.Counter(m[2]["Message-ID"] for s in sinks for m in s.messages)


class HoldingSink(SmtpSink):
    """An SmtpSink that, once hold_at RCPT TOs have been answered, holds the next sender
    at its RCPT TO (the mail claimed, not yet given to the relay) until release(): .held
    is set while it waits, .held_rcpt names the recipient. The held message is never
    accepted."""

    def __init__(self, hold_at, **kwargs):
        super().__init__(**kwargs)
        self.held = threading.Event()
        self.released = threading.Event()
        self.held_rcpt = None
        self.rcpts = 0
        self.hold_at = hold_at
        self.controller.handler.handle_RCPT = self._handle_rcpt

    async def _handle_rcpt(self, server, session, envelope, address, rcpt_options):
        with self.lock:
            n = self.rcpts
            self.rcpts += 1
        if n == self.hold_at:
            self.held_rcpt = address
            self.held.set()
            while not self.released.is_set():
                await asyncio.sleep(0.05)
            return "421 4.3.0 closing"  # to a sender that is gone
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    def release(self):
        self.released.set()
