"""it.mail.tls: mail goes out over STARTTLS and over SMTPS (implicit TLS); with
certificate checks on, a relay with an unknown certificate gets nothing."""
import tempfile
import time

import pytest
import requests

import harness
from smtp_sink import SmtpSink, self_signed_context

V1 = "/_matrix/identity/api/v1"


def request_token(svc, email):
    r = requests.post(svc.url(V1 + "/validate/email/requestToken"),
                      json={"client_secret": "tls", "email": email, "send_attempt": 1})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("mode,security", [("starttls", "starttls"), ("implicit", "tls")])
def test_tls_relays(cluster, mode, security):
    ctx = self_signed_context(tempfile.mkdtemp())
    sink = SmtpSink(tls=mode, tls_context=ctx)
    try:
        svc = harness.Service(cluster, smtp_port=sink.port,
                              mail_extra=f"  smtp_security: {security}\n  tls_verify: false\n")
        with svc:
            request_token(svc, "tls@agri.gouv.fr")
            assert sink.wait(1)[0][1] == ["tls@agri.gouv.fr"]
    finally:
        sink.stop()


def test_unverified_certificate_refused(cluster):
    ctx = self_signed_context(tempfile.mkdtemp())
    sink = SmtpSink(tls="starttls", tls_context=ctx)
    try:
        svc = harness.Service(cluster, smtp_port=sink.port, mail_extra="  smtp_security: starttls\n")
        with svc:
            request_token(svc, "tls2@agri.gouv.fr")
            assert svc.wait_log("not delivered, will retry")
            time.sleep(0.3)
            assert sink.messages == []
    finally:
        sink.stop()
