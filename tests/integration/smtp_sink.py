"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps every message it is
given, so tests read the mail the service really sent."""
import email
import email.policy
import threading
import time

from aiosmtpd.controller import Controller


class _Handler:
    def __init__(self, sink):
        self.sink = sink

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        with self.sink.lock:
            self.sink.messages.append((envelope.mail_from, list(envelope.rcpt_tos), msg,
                                       envelope.original_content))
        return "250 OK"


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


class SmtpSink:
    """tls: None (plain), "starttls" (required before MAIL) or "implicit" (SMTPS)."""

    def __init__(self, port, tls=None, tls_context=None):
        self.messages = []
        self.lock = threading.Lock()
        kwargs = {}
        if tls == "starttls":
            kwargs = {"tls_context": tls_context, "require_starttls": True}
        elif tls == "implicit":
            kwargs = {"ssl_context": tls_context}
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=port, **kwargs)
        self.controller.start()

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
