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


class SmtpSink:
    def __init__(self, port):
        self.messages = []
        self.lock = threading.Lock()
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=port)
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
