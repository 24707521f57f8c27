"""it.validation.email: requestToken queues a mail that a real SMTP server receives; the
link validates the session; send_attempt deduplication; token tries, expiry, next_link;
an SMTP outage delays mail and loses none."""
import re
import time
from urllib.parse import parse_qs, urlparse

import pytest
import requests

import harness
import ports
from fake_hs import FakeHomeserver
from harness import assert_matrix_error
from smtp_sink import SmtpSink

V1 = "/_matrix/identity/api/v1"
V2 = "/_matrix/identity/v2"


@pytest.fixture
def env(identity):
    svc, sink, hs = identity
    return svc, sink, {"Authorization": "Bearer " + harness.register(svc, hs, "@alice:hs.test")}


def request_token(svc, auth, email, secret="s3cret", attempt=1, headers=None, **extra):
    return requests.post(svc.url(V2 + "/validate/email/requestToken"),
                         headers={**auth, **(headers or {})},
                         json={"client_secret": secret, "email": email, "send_attempt": attempt, **extra})


def link_of(msg):
    body = msg.get_body(("plain",)).get_content()
    return re.search(r"https?://\S+submitToken\S+", body).group(0)


def test_full_validation(env, cluster):
    svc, sink, auth = env
    r = request_token(svc, auth, "Alice.Martin@Interieur.GOUV.fr", attempt="1")  # js-sdk sends strings
    assert r.status_code == 200, r.text
    sid = r.json()["sid"]
    mail_from, rcpt, msg, raw = sink.wait(1)[0]
    assert rcpt == ["alice.martin@interieur.gouv.fr"]  # the address the session stands for
    assert mail_from == "noreply@is.test"
    assert msg["Subject"] == "Tchap : confirmez votre adresse électronique"  # French by default
    assert "alice.martin@interieur.gouv.fr" in msg.get_body(("plain",)).get_content()
    link = link_of(msg)
    q = parse_qs(urlparse(link).query)
    assert q["sid"] == [sid] and q["client_secret"] == ["s3cret"]

    r = requests.get(svc.url(V2 + "/3pid/getValidated3pid"), headers=auth,
                     params={"sid": sid, "client_secret": "s3cret"})
    assert_matrix_error(r, 400, "M_SESSION_NOT_VALIDATED")

    page = requests.get(link, allow_redirects=False)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "Adresse confirmée" in page.text

    r = requests.get(svc.url(V2 + "/3pid/getValidated3pid"), headers=auth,
                     params={"sid": sid, "client_secret": "s3cret"})
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["medium"] == "email" and got["address"] == "alice.martin@interieur.gouv.fr"
    assert abs(got["validated_at"] - time.time() * 1000) < 60000
    # v1, without a token, as homeservers call it.
    r = requests.get(svc.url(V1 + "/3pid/getValidated3pid"), params={"sid": sid, "client_secret": "s3cret"})
    assert r.json()["address"] == "alice.martin@interieur.gouv.fr"
    # Submitting the same token again by POST still succeeds.
    token = q["token"][0]
    r = requests.post(svc.url(V2 + "/validate/email/submitToken"), headers=auth,
                      json={"sid": sid, "client_secret": "s3cret", "token": token})
    assert r.json() == {"success": True}
    # Nothing secret in the log; nothing left of the body once delivered.
    log = svc.read_log()
    assert token not in log and "s3cret" not in log
    assert cluster.psql("SELECT count(*) FROM annuaire.mail_outbox WHERE message IS NOT NULL",
                        db=svc.db).strip() == "0"


def test_send_attempt_dedup(env):
    svc, sink, auth = env
    sid = request_token(svc, auth, "bob@agri.gouv.fr", attempt=1).json()["sid"]
    sink.wait(1)
    assert request_token(svc, auth, "bob@agri.gouv.fr", attempt=1).json()["sid"] == sid
    assert request_token(svc, auth, "bob@agri.gouv.fr", attempt="0").json()["sid"] == sid
    time.sleep(0.5)
    assert len(sink.messages) == 1  # same or lower attempt: nothing sent
    assert request_token(svc, auth, "bob@agri.gouv.fr", attempt=2).json()["sid"] == sid
    msgs = sink.wait(2)
    # Each mail has its own token; only the newest one works.
    old = parse_qs(urlparse(link_of(msgs[0][2])).query)["token"][0]
    new = parse_qs(urlparse(link_of(msgs[1][2])).query)["token"][0]
    assert old != new
    body = {"sid": sid, "client_secret": "s3cret"}
    assert_matrix_error(requests.post(svc.url(V2 + "/validate/email/submitToken"), headers=auth,
                                      json={**body, "token": old}), 400, "M_TOKEN_INCORRECT")
    assert requests.post(svc.url(V2 + "/validate/email/submitToken"), headers=auth,
                         json={**body, "token": new}).json() == {"success": True}
    # Another client_secret is another session.
    assert request_token(svc, auth, "bob@agri.gouv.fr", secret="other").json()["sid"] != sid


def test_english_on_request(env):
    svc, sink, auth = env
    request_token(svc, auth, "carol@culture.gouv.fr", headers={"Accept-Language": "en-GB,en;q=0.9,fr;q=0.5"})
    msg = sink.wait(1)[0][2]
    assert msg["Subject"] == "Tchap: confirm your e-mail address"
    page = requests.get(link_of(msg), headers={"Accept-Language": "en"})
    assert "Address confirmed" in page.text


def test_bad_requests(env):
    svc, sink, auth = env
    for bad in ("a@b@c.fr", "nobody", "x@localhost", "a b@c.fr", "a@b.fr\r\nBcc: x@y.fr", "<a@b.fr>",
                "a@.fr", "a@b..fr", "a@-b.fr"):
        assert_matrix_error(request_token(svc, auth, bad), 400, "M_INVALID_EMAIL")
    assert_matrix_error(request_token(svc, auth, "a@b.fr", secret="a b"), 400, "M_INVALID_PARAM")
    assert_matrix_error(request_token(svc, auth, "a@b.fr", attempt="x"), 400, "M_INVALID_PARAM")
    assert_matrix_error(request_token(svc, auth, "a@b.fr", next_link="javascript:alert(1)"), 400,
                        "M_INVALID_PARAM")
    r = requests.post(svc.url(V2 + "/validate/email/requestToken"), headers=auth, json={"email": "a@b.fr"})
    assert_matrix_error(r, 400, "M_MISSING_PARAMS")
    assert_matrix_error(request_token(svc, {}, "a@b.fr"), 401, "M_UNAUTHORIZED")
    # v1 needs no token.
    r = requests.post(svc.url(V1 + "/validate/email/requestToken"),
                      json={"client_secret": "v1", "email": "dan@b.gouv.fr", "send_attempt": 1})
    assert r.status_code == 200 and r.json()["sid"]
    time.sleep(0.5)
    assert all("a@b" not in "".join(m[1]) for m in sink.messages)  # nothing mailed for refusals


def test_wrong_tokens_and_unknown_sessions(env):
    svc, sink, auth = env
    sid = request_token(svc, auth, "erin@mer.gouv.fr").json()["sid"]
    token = parse_qs(urlparse(link_of(sink.wait(1)[0][2])).query)["token"][0]
    url = svc.url(V2 + "/validate/email/submitToken")
    for _ in range(5):
        assert_matrix_error(requests.post(url, headers=auth, json={"sid": sid, "client_secret": "s3cret",
                                                                   "token": "wrong"}), 400, "M_TOKEN_INCORRECT")
    # Tries exhausted: even the right token is refused now.
    assert_matrix_error(requests.post(url, headers=auth, json={"sid": sid, "client_secret": "s3cret",
                                                               "token": token}), 400, "M_TOKEN_INCORRECT")
    assert_matrix_error(requests.post(url, headers=auth, json={"sid": "nope", "client_secret": "s3cret",
                                                               "token": token}), 404, "M_NO_VALID_SESSION")
    assert_matrix_error(requests.post(url, headers=auth, json={"sid": sid, "client_secret": "other",
                                                               "token": token}), 404, "M_NO_VALID_SESSION")
    r = requests.get(svc.url(V2 + "/3pid/getValidated3pid"), headers=auth,
                     params={"sid": sid, "client_secret": "wrong"})
    assert_matrix_error(r, 404, "M_NO_VALID_SESSION")
    page = requests.get(svc.url(V2 + "/validate/email/submitToken"),
                        params={"sid": sid, "client_secret": "s3cret", "token": token})
    assert page.status_code == 400 and "pas valable" in page.text


def test_expiry(env, cluster):
    svc, sink, auth = env
    sid = request_token(svc, auth, "fred@mer.gouv.fr").json()["sid"]
    token = parse_qs(urlparse(link_of(sink.wait(1)[0][2])).query)["token"][0]
    cluster.psql(f"UPDATE annuaire.validation_sessions SET modified_at = now() - interval '25 hours'"
                 f" WHERE sid = '{sid}'", db=svc.db)
    assert_matrix_error(requests.post(svc.url(V2 + "/validate/email/submitToken"), headers=auth,
                                      json={"sid": sid, "client_secret": "s3cret", "token": token}),
                        400, "M_SESSION_EXPIRED")
    r = requests.get(svc.url(V2 + "/3pid/getValidated3pid"), headers=auth,
                     params={"sid": sid, "client_secret": "s3cret"})
    assert_matrix_error(r, 400, "M_SESSION_EXPIRED")


def test_next_link_redirect(env):
    svc, sink, auth = env
    request_token(svc, auth, "gina@mer.gouv.fr", next_link="https://app.test/welcome?x=1")
    r = requests.get(link_of(sink.wait(1)[0][2]), allow_redirects=False)
    assert r.status_code == 302
    assert r.headers["Location"] == "https://app.test/welcome?x=1"


def test_smtp_outage_loses_nothing(cluster):
    hs = FakeHomeserver()
    port = ports.reserve()  # nothing listens there until the SMTP server comes back
    with harness.Service(cluster, config=harness.homeserver_config(hs), smtp_port=port) as svc:
        auth = {"Authorization": "Bearer " + harness.register(svc, hs, "@h:hs.test")}
        assert request_token(svc, auth, "hugo@mer.gouv.fr").status_code == 200
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:  # the first delivery attempt fails
            row = cluster.psql("SELECT attempts, last_error IS NOT NULL, sent_at IS NULL"
                               " FROM annuaire.mail_outbox", db=svc.db).strip()
            if row.startswith("1|t|t") or row.startswith("2|t|t"):
                break
            time.sleep(0.1)
        else:
            raise AssertionError(row)
        sink = SmtpSink(port)  # the SMTP server comes back
        try:
            msg = sink.wait(1, timeout=20)[0]
            assert msg[1] == ["hugo@mer.gouv.fr"]
        finally:
            sink.stop()
        assert "not delivered, will retry" in svc.read_log()
    hs.close()
