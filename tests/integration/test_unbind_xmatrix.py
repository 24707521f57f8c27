"""it.unbind.xmatrix: a homeserver unbinds one of its users with an X-Matrix signed
request, checked against the keys it publishes; forged, foreign or unsigned requests
get 403 M_FORBIDDEN. The keys a homeserver publishes are fetched once: a key id it does
not publish, or a homeserver whose keys cannot be fetched, costs no new fetch for a
while, whatever key ids the requests name."""
import json
import uuid

import pytest
import requests

import harness
from fake_hs import FakeHomeserver
from harness import assert_matrix_error
from smtp_sink import SmtpSink
from test_bind_lookup import validated_session

V2 = "/_matrix/identity/v2"


@pytest.fixture
def env(cluster):
    hs = FakeHomeserver()
    hs.server_name = "hs.test"
    sink = SmtpSink()
    with harness.Service(cluster, config=harness.homeserver_config(hs), smtp_port=sink.port) as svc:
        token = harness.register(svc, hs, "@erin:hs.test")
        auth = {"Authorization": f"Bearer {token}"}
        sid = validated_session(svc, sink, auth, "erin@mer.gouv.fr")
        r = requests.post(svc.url(V2 + "/3pid/bind"), headers=auth,
                          json={"sid": sid, "client_secret": "sec", "mxid": "@erin:hs.test"})
        assert r.status_code == 200
        yield svc, hs
    sink.stop()
    hs.close()


def signed_unbind(svc, hs, body, dest_key="destination_is", origin="hs.test", tamper=False):
    req = {"method": "POST", "uri": "/_matrix/identity/v2/3pid/unbind", "origin": origin,
           dest_key: "is.test", "content": body}
    hs.sign(req)
    sig = req["signatures"]["hs.test"][hs.key_id]
    if tamper:
        body = {**body, "mxid": "@other:hs.test"}
    header = f'X-Matrix origin={origin},key="{hs.key_id}",sig="{sig}",destination="is.test"'
    return requests.post(svc.url(V2 + "/3pid/unbind"), data=json.dumps(body),
                         headers={"Authorization": header, "Content-Type": "application/json"})


def bound(svc):
    r = requests.get(svc.url("/_matrix/identity/api/v1/lookup"),
                     params={"medium": "email", "address": "erin@mer.gouv.fr"})
    return r.json().get("mxid")


BODY = {"mxid": "@erin:hs.test", "threepid": {"medium": "email", "address": "erin@mer.gouv.fr"}}


def test_signed_unbind(env):
    svc, hs = env
    assert bound(svc) == "@erin:hs.test"
    r = signed_unbind(svc, hs, BODY)
    assert r.status_code == 200, r.text
    assert bound(svc) is None


def test_keys_fetched_once_for_their_validity(env):
    svc, hs = env
    key_fetches = lambda: [q for q in hs.requests if q[1] == "/_matrix/key/v2/server"]
    assert signed_unbind(svc, hs, BODY).status_code == 200
    assert signed_unbind(svc, hs, BODY).status_code == 200  # already unbound: still 200
    assert len(key_fetches()) == 1, hs.requests
    # A signature by another key under the same id is still refused with the cached key.
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    hs.signing_key = Ed25519PrivateKey.generate()
    assert_matrix_error(signed_unbind(svc, hs, BODY), 403, "M_FORBIDDEN")
    assert len(key_fetches()) == 1


def unbind_with_key(svc, key_id, mxid="@erin:hs.test", origin="hs.test"):
    body = {"mxid": mxid, "threepid": BODY["threepid"]}
    header = f'X-Matrix origin={origin},key="{key_id}",sig="x",destination="is.test"'
    return requests.post(svc.url(V2 + "/3pid/unbind"), json=body, headers={"Authorization": header})


def test_unknown_key_ids_cost_no_fetch(env):
    svc, hs = env
    key_fetches = lambda: [q for q in hs.requests if q[1] == "/_matrix/key/v2/server"]
    assert_matrix_error(unbind_with_key(svc, "ed25519:" + uuid.uuid4().hex[:6]), 403, "M_FORBIDDEN")
    assert len(key_fetches()) == 1, hs.requests
    for _ in range(15):
        assert_matrix_error(unbind_with_key(svc, "ed25519:" + uuid.uuid4().hex[:6]), 403,
                            "M_FORBIDDEN")
    assert len(key_fetches()) == 1, hs.requests
    # The key it does publish came with that one fetch.
    assert signed_unbind(svc, hs, BODY).status_code == 200
    assert len(key_fetches()) == 1, hs.requests
    assert bound(svc) is None


def test_failed_key_fetch_is_not_repeated(cluster):
    hs = FakeHomeserver()  # signs as no server name: its keys are never accepted
    try:
        with harness.Service(cluster, config=harness.homeserver_config(hs, "victim.test")) as svc:
            for _ in range(15):
                r = unbind_with_key(svc, "ed25519:" + uuid.uuid4().hex[:6], mxid="@x:victim.test",
                                    origin="victim.test")
                assert_matrix_error(r, 403, "M_FORBIDDEN")
            assert len([q for q in hs.requests if q[1] == "/_matrix/key/v2/server"]) == 1, hs.requests
    finally:
        hs.close()


def test_signed_unbind_federation_form(env):
    svc, hs = env
    assert signed_unbind(svc, hs, BODY, dest_key="destination").status_code == 200
    assert bound(svc) is None


def test_refusals(env):
    svc, hs = env
    assert_matrix_error(signed_unbind(svc, hs, BODY, tamper=True), 403, "M_FORBIDDEN")
    # A server may only unbind its own users.
    other = {"mxid": "@erin:elsewhere.test", "threepid": BODY["threepid"]}
    assert_matrix_error(signed_unbind(svc, hs, other), 403, "M_FORBIDDEN")
    # Garbage header, no header.
    r = requests.post(svc.url(V2 + "/3pid/unbind"), json=BODY, headers={"Authorization": "X-Matrix nonsense"})
    assert_matrix_error(r, 403, "M_FORBIDDEN")
    assert_matrix_error(requests.post(svc.url(V2 + "/3pid/unbind"), json=BODY), 403, "M_FORBIDDEN")
    # Signed by a key the homeserver does not publish.
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    real = hs.signing_key
    hs.signing_key = Ed25519PrivateKey.generate()
    forged = {"method": "POST", "uri": "/_matrix/identity/v2/3pid/unbind", "origin": "hs.test",
              "destination_is": "is.test", "content": BODY}
    hs.sign(forged)
    hs.signing_key = real
    header = f'X-Matrix origin=hs.test,key="{hs.key_id}",sig="{forged["signatures"]["hs.test"][hs.key_id]}"'
    r = requests.post(svc.url(V2 + "/3pid/unbind"), json=BODY, headers={"Authorization": header})
    assert_matrix_error(r, 403, "M_FORBIDDEN")
    assert bound(svc) == "@erin:hs.test"
