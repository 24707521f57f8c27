"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps every message it is
given, so tests read the mail the service really sent. It binds port 0 and the test
reads the port it got (.port), unless told a port (a relay that comes back where the
service was told it is)."""
import asyncio
import email
import email.policy
import threading
import time

from aiosmtpd.controller import Controller


class _Handler:
    def __init__(self, sink):
        self.sink = sink

    async def handle_DATA(self, server, session, envelope):
        sink = self.sink
        msg = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        if sink.delay:
            await asyncio.sleep(sink.delay)  # a slow relay
        with sink.lock:
            refuse = sink.refuse_first > 0
            if refuse:
                sink.refuse_first -= 1
                sink.refused.append((envelope.mail_from, list(envelope.rcpt_tos), msg,
                                     envelope.original_content))
        if refuse:
            return "451 4.3.0 try again later"
        if sink.before_accept is not None:
            sink.before_accept(msg)  # runs before the 250 is sent: the message is taken
        with sink.lock:
            sink.messages.append((envelope.mail_from, list(envelope.rcpt_tos), msg,
                                  envelope.original_content))
            if has_placeholder(msg):
                sink.placeholders.append(msg)
        return "250 OK"


def has_placeholder(msg):
    """Whether a "{{" is left in a header or a decoded text part of msg."""
    if any("{{" in str(v) for v in msg.values()):
        return True
    for part in msg.walk():
        if part.get_content_maintype() == "text" and "{{" in part.get_content():
            return True
    return False


def self_signed_context(directory):
    """A server TLS context with a throw-away certificate for 127.0.0.1."""
    import os
    import ssl
    import subprocess
    cert, key = os.path.join(directory, "smtp-cert.pem"), os.path.join(directory, "smtp-key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", cert], check=True, capture_output=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


class _Controller(Controller):
    """aiosmtpd's threaded controller, on the port it is given or, for port 0, on the
    one the system picks, kept in .port (which start() then connects to)."""

    async def _listen(self):
        server = await self.loop.create_server(self._factory_invoker, host=self.hostname,
                                               port=self.port, ssl=self.ssl_context)
        self.port = server.sockets[0].getsockname()[1]
        return server

    def _create_server(self):
        return self._listen()


class SmtpSink:
    """tls: None (plain), "starttls" (required before MAIL) or "implicit" (SMTPS).
    delay: seconds each DATA takes before its answer (a slow relay).
    refuse_first: how many messages get a 451 before any is accepted (kept in .refused).
    before_accept(msg): called before a message is accepted (before the 250 goes out).
    port: 0 (the system picks one), or a port reserved with ports.reserve()."""

    def __init__(self, port=0, tls=None, tls_context=None, delay=0, refuse_first=0,
                 before_accept=None):
        self.messages = []
        self.placeholders = []  # accepted mails with a "{{" left: stop() fails on them
        self.refused = []
        self.delay = delay
        self.refuse_first = refuse_first
        self.before_accept = before_accept
        self.lock = threading.Lock()
        kwargs = {}
        if tls == "starttls":
            kwargs = {"tls_context": tls_context, "require_starttls": True}
        elif tls == "implicit":
            kwargs = {"ssl_context": tls_context}
        self.controller = _Controller(_Handler(self), hostname="127.0.0.1", port=port, **kwargs)
        self.controller.start()
        self.port = self.controller.port

    def wait(self, count=1, timeout=15):
        """Waits until at least count messages arrived; returns them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.02)
        raise AssertionError(f"expected {count} mail(s), got {len(self.messages)}")

    def wait_for(self, match, timeout=15):
        """Waits for a message for which match(msg) is true; returns the last such one."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                found = [m for m in self.messages if match(m[2])]
            if found:
                return found[-1]
            time.sleep(0.02)
        raise AssertionError("no matching mail arrived")

    def stop(self):
        self.controller.stop()
        # Every test that reads mail stops its sink: no mail of the suite may carry a
        # template placeholder.
        assert not self.placeholders, [m.as_string()[:500] for m in self.placeholders]
