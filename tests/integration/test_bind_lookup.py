"""it.bind.lookup: bind returns an association signed as the spec says (checked with an
independent Ed25519 implementation), hashed and plain lookup find it (v2 and v1),
pepper rotation, unbind by session, and the errors of each."""
import base64
import hashlib
import json
import re
import subprocess
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

import harness
from fake_hs import FakeHomeserver
from harness import assert_matrix_error
from smtp_sink import SmtpSink

V1 = "/_matrix/identity/api/v1"
V2 = "/_matrix/identity/v2"


@pytest.fixture
def env(identity):
    return identity


def validated_session(svc, sink, auth, email, secret="sec"):
    sid = requests.post(svc.url(V2 + "/validate/email/requestToken"), headers=auth, json={
        "client_secret": secret, "email": email, "send_attempt": 1}).json()["sid"]

    def link_in(msg):
        m = re.search(r"https?://\S+submitToken\S+", msg.get_body(("plain",)).get_content())
        return m.group(0) if m and f"sid={sid}" in m.group(0) else None

    link = link_in(sink.wait_for(link_in)[2])
    assert requests.get(link).status_code == 200
    return sid


def unb64(s):
    return base64.b64decode(s + "=" * (-len(s) % 4))


def verify_signed(svc, assoc):
    """Checks the signature as any Matrix implementation would, without our code."""
    key = requests.get(svc.url(V2 + "/pubkey/ed25519:0")).json()["public_key"]
    sig = assoc["signatures"]["is.test"]["ed25519:0"]
    signed = {k: v for k, v in assoc.items() if k not in ("signatures", "unsigned")}
    canonical = json.dumps(signed, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    Ed25519PublicKey.from_public_bytes(unb64(key)).verify(unb64(sig), canonical)  # raises if bad


def lookup_hash(address, medium, pepper):
    d = hashlib.sha256(f"{address} {medium} {pepper}".encode()).digest()
    return base64.urlsafe_b64encode(d).decode().rstrip("=")


def test_bind_lookup_rotate_unbind(env, cluster):
    svc, sink, hs = env
    token = harness.register(svc, hs, "@alice:hs.test")
    auth = {"Authorization": f"Bearer {token}"}
    sid = validated_session(svc, sink, auth, "Alice@Interieur.Gouv.FR")

    r = requests.post(svc.url(V2 + "/3pid/bind"), headers=auth,
                      json={"sid": sid, "client_secret": "sec", "mxid": "@alice:hs.test"})
    assert r.status_code == 200, r.text
    assoc = r.json()
    assert assoc["address"] == "alice@interieur.gouv.fr" and assoc["medium"] == "email"
    assert assoc["mxid"] == "@alice:hs.test"
    assert assoc["not_before"] == assoc["ts"] and assoc["not_after"] > assoc["ts"] + 99 * 365 * 86400000
    verify_signed(svc, assoc)

    details = requests.get(svc.url(V2 + "/hash_details"), headers=auth).json()
    assert "sha256" in details["algorithms"] and "none" in details["algorithms"]
    pepper = details["lookup_pepper"]
    # Homeservers pass the token in the query string here.
    assert requests.get(svc.url(V2 + "/hash_details"), params={"access_token": token}).json() == details

    h = lookup_hash("alice@interieur.gouv.fr", "email", pepper)
    other = lookup_hash("nobody@interieur.gouv.fr", "email", pepper)
    r = requests.post(svc.url(V2 + "/lookup"), headers=auth,
                      json={"algorithm": "sha256", "pepper": pepper, "addresses": [h, other, "junk"]})
    assert r.status_code == 200, r.text
    assert r.json() == {"mappings": {h: "@alice:hs.test"}}

    r = requests.post(svc.url(V2 + "/lookup"), headers=auth, json={
        "algorithm": "none", "pepper": pepper,
        "addresses": ["alice@interieur.gouv.fr email", "ALICE@interieur.gouv.fr email", "x@y.fr email"]})
    assert r.json() == {"mappings": {"alice@interieur.gouv.fr email": "@alice:hs.test",
                                     "ALICE@interieur.gouv.fr email": "@alice:hs.test"}}

    # v1, as older clients and homeservers call it.
    r = requests.get(svc.url(V1 + "/lookup"), params={"medium": "email", "address": "alice@interieur.gouv.fr"})
    verify_signed(svc, r.json())
    assert r.json()["mxid"] == "@alice:hs.test"
    assert requests.get(svc.url(V1 + "/lookup"), params={"medium": "email", "address": "z@z.fr"}).json() == {}
    r = requests.post(svc.url(V1 + "/bulk_lookup"), json={"threepids": [
        ["email", "Alice@interieur.gouv.fr"], ["email", "z@z.fr"], ["msisdn", "33600000000"]]})
    assert r.json() == {"threepids": [["email", "Alice@interieur.gouv.fr", "@alice:hs.test"]]}

    # Rotation: the old pepper is refused and says which is current; hashes follow.
    rot = svc.run("pepper", "rotate")
    assert rot.returncode == 0, rot.stderr
    assert "1 association rehashed" in rot.stdout
    r = requests.post(svc.url(V2 + "/lookup"), headers=auth,
                      json={"algorithm": "sha256", "pepper": pepper, "addresses": [h]})
    assert_matrix_error(r, 400, "M_INVALID_PEPPER")
    new_pepper = r.json()["lookup_pepper"]
    assert new_pepper != pepper and r.json()["algorithm"] == "sha256"
    assert requests.get(svc.url(V2 + "/hash_details"), headers=auth).json()["lookup_pepper"] == new_pepper
    h2 = lookup_hash("alice@interieur.gouv.fr", "email", new_pepper)
    r = requests.post(svc.url(V2 + "/lookup"), headers=auth,
                      json={"algorithm": "sha256", "pepper": new_pepper, "addresses": [h2, h]})
    assert r.json() == {"mappings": {h2: "@alice:hs.test"}}

    # Unbind with the session that proved ownership.
    r = requests.post(svc.url(V2 + "/3pid/unbind"), json={
        "mxid": "@alice:hs.test", "threepid": {"medium": "email", "address": "alice@interieur.gouv.fr"},
        "sid": sid, "client_secret": "sec"})
    assert r.status_code == 200 and r.json() == {}
    r = requests.post(svc.url(V2 + "/lookup"), headers=auth,
                      json={"algorithm": "sha256", "pepper": new_pepper, "addresses": [h2]})
    assert r.json() == {"mappings": {}}


def test_bind_refusals(env):
    svc, sink, hs = env
    auth = {"Authorization": "Bearer " + harness.register(svc, hs, "@bob:hs.test")}
    sid = validated_session(svc, sink, auth, "bob@agri.gouv.fr")
    url = svc.url(V2 + "/3pid/bind")
    # Only one's own Matrix ID.
    assert_matrix_error(requests.post(url, headers=auth, json={
        "sid": sid, "client_secret": "sec", "mxid": "@mallory:hs.test"}), 403, "M_UNAUTHORIZED")
    assert_matrix_error(requests.post(url, headers=auth, json={
        "sid": sid, "client_secret": "wrong", "mxid": "@bob:hs.test"}), 404, "M_NO_VALID_SESSION")
    assert_matrix_error(requests.post(url, headers=auth, json={
        "sid": sid, "client_secret": "sec", "mxid": "bob"}), 400, "M_INVALID_PARAM")
    assert_matrix_error(requests.post(url, json={
        "sid": sid, "client_secret": "sec", "mxid": "@bob:hs.test"}), 401, "M_UNAUTHORIZED")
    # A session not yet validated.
    sid2 = requests.post(svc.url(V2 + "/validate/email/requestToken"), headers=auth, json={
        "client_secret": "s2", "email": "bob2@agri.gouv.fr", "send_attempt": 1}).json()["sid"]
    assert_matrix_error(requests.post(url, headers=auth, json={
        "sid": sid2, "client_secret": "s2", "mxid": "@bob:hs.test"}), 400, "M_SESSION_NOT_VALIDATED")
    # Unbind without proof, or with a session for another address.
    body = {"mxid": "@bob:hs.test", "threepid": {"medium": "email", "address": "carol@agri.gouv.fr"}}
    assert_matrix_error(requests.post(svc.url(V2 + "/3pid/unbind"), json=body), 403, "M_FORBIDDEN")
    assert_matrix_error(requests.post(svc.url(V2 + "/3pid/unbind"),
                                      json={**body, "sid": sid, "client_secret": "sec"}), 403, "M_FORBIDDEN")


def test_lookup_errors(env):
    svc, sink, hs = env
    auth = {"Authorization": "Bearer " + harness.register(svc, hs, "@c:hs.test")}
    pepper = requests.get(svc.url(V2 + "/hash_details"), headers=auth).json()["lookup_pepper"]
    url = svc.url(V2 + "/lookup")
    assert_matrix_error(requests.post(url, headers=auth, json={"algorithm": "md5", "pepper": pepper,
                                                               "addresses": []}), 400, "M_INVALID_PARAM")
    assert_matrix_error(requests.post(url, headers=auth, json={"algorithm": "sha256", "pepper": "bad",
                                                               "addresses": []}), 400, "M_INVALID_PEPPER")
    assert_matrix_error(requests.post(url, headers=auth, json={"algorithm": "sha256"}), 400, "M_MISSING_PARAMS")
    assert_matrix_error(requests.post(url, headers=auth, json={
        "algorithm": "sha256", "pepper": pepper, "addresses": ["x"] * 10001}), 400, "M_INVALID_PARAM")
    assert_matrix_error(requests.post(url, json={"algorithm": "sha256", "pepper": pepper, "addresses": []}),
                        401, "M_UNAUTHORIZED")
    assert_matrix_error(requests.get(svc.url(V2 + "/hash_details")), 401, "M_UNAUTHORIZED")
    r = requests.post(url, headers=auth, json={"algorithm": "sha256", "pepper": pepper, "addresses": []})
    assert r.json() == {"mappings": {}}
    assert_matrix_error(requests.get(svc.url(V1 + "/lookup")), 400, "M_MISSING_PARAMS")
    assert_matrix_error(requests.post(svc.url(V1 + "/bulk_lookup"), json={"threepids": [["email"]]}),
                        400, "M_INVALID_PARAM")
