"""it.bind.lookup: bind returns an association signed as the spec says (checked with an
independent Ed25519 implementation); hashed and plain lookup find it (v2 and v1) and
nothing else; pepper rotation; unbind by session; and the errors of bind, unbind and
lookup, one case each."""
import base64
import hashlib
import json
import re
from types import SimpleNamespace

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

import harness
from fake_hs import FakeHomeserver
from harness import assert_matrix_error
from smtp_sink import SmtpSink

V1 = "/_matrix/identity/api/v1"
V2 = "/_matrix/identity/v2"
ALICE = "@alice:hs.test"
ADDRESS = "alice@interieur.gouv.fr"  # validated as "Alice@Interieur.Gouv.FR"


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


@pytest.fixture
def bound(identity):
    """A service where @alice:hs.test has bound her address, validated as she typed it."""
    svc, sink, hs = identity
    token = harness.register(svc, hs, ALICE)
    auth = {"Authorization": f"Bearer {token}"}
    sid = validated_session(svc, sink, auth, "Alice@Interieur.Gouv.FR")
    r = requests.post(svc.url(V2 + "/3pid/bind"), headers=auth,
                      json={"sid": sid, "client_secret": "sec", "mxid": ALICE})
    assert r.status_code == 200, r.text
    pepper = requests.get(svc.url(V2 + "/hash_details"), headers=auth).json()["lookup_pepper"]
    return SimpleNamespace(svc=svc, token=token, auth=auth, sid=sid, assoc=r.json(), pepper=pepper)


def lookup(b, algorithm, addresses, pepper=None):
    return requests.post(b.svc.url(V2 + "/lookup"), headers=b.auth, json={
        "algorithm": algorithm, "pepper": pepper or b.pepper, "addresses": addresses})


def rotate(b):
    """annuaire pepper rotate; returns the new pepper, as hash_details gives it."""
    rot = b.svc.run("pepper", "rotate")
    assert rot.returncode == 0, rot.stderr
    assert "1 association rehashed" in rot.stdout
    return requests.get(b.svc.url(V2 + "/hash_details"), headers=b.auth).json()["lookup_pepper"]


def test_bind_returns_a_signed_association(bound):
    assoc = bound.assoc
    assert assoc["address"] == ADDRESS and assoc["medium"] == "email"
    assert assoc["mxid"] == ALICE
    assert assoc["not_before"] == assoc["ts"] and assoc["not_after"] > assoc["ts"] + 99 * 365 * 86400000
    verify_signed(bound.svc, assoc)


def test_hash_details_with_the_token_in_header_or_query(bound):
    details = requests.get(bound.svc.url(V2 + "/hash_details"), headers=bound.auth).json()
    assert "sha256" in details["algorithms"] and "none" in details["algorithms"]
    assert details["lookup_pepper"] == bound.pepper
    # Homeservers pass the token in the query string here.
    assert requests.get(bound.svc.url(V2 + "/hash_details"),
                        params={"access_token": bound.token}).json() == details


def test_sha256_lookup_finds_the_bound_address_only(bound):
    h = lookup_hash(ADDRESS, "email", bound.pepper)
    unknown = lookup_hash("nobody@interieur.gouv.fr", "email", bound.pepper)
    r = lookup(bound, "sha256", [h, unknown, "junk"])
    assert r.status_code == 200, r.text
    assert r.json() == {"mappings": {h: ALICE}}


def test_plain_lookup_folds_case(bound):
    r = lookup(bound, "none", [f"{ADDRESS} email", "ALICE@interieur.gouv.fr email", "x@y.fr email"])
    assert r.status_code == 200, r.text
    assert r.json() == {"mappings": {f"{ADDRESS} email": ALICE, "ALICE@interieur.gouv.fr email": ALICE}}


def test_v1_lookup_answers_a_signed_association(bound):
    # v1, as older clients and homeservers call it.
    r = requests.get(bound.svc.url(V1 + "/lookup"), params={"medium": "email", "address": ADDRESS})
    verify_signed(bound.svc, r.json())
    assert r.json()["mxid"] == ALICE
    assert requests.get(bound.svc.url(V1 + "/lookup"),
                        params={"medium": "email", "address": "z@z.fr"}).json() == {}


def test_v1_bulk_lookup_answers_bound_addresses_as_asked(bound):
    r = requests.post(bound.svc.url(V1 + "/bulk_lookup"), json={"threepids": [
        ["email", "Alice@interieur.gouv.fr"], ["email", "z@z.fr"], ["msisdn", "33600000000"]]})
    assert r.json() == {"threepids": [["email", "Alice@interieur.gouv.fr", ALICE]]}


def test_rotation_refuses_the_old_pepper_and_names_the_new_one(bound):
    new_pepper = rotate(bound)
    r = lookup(bound, "sha256", [lookup_hash(ADDRESS, "email", bound.pepper)])
    assert_matrix_error(r, 400, "M_INVALID_PEPPER")
    assert r.json()["lookup_pepper"] == new_pepper and new_pepper != bound.pepper
    assert r.json()["algorithm"] == "sha256"


def test_rotation_rehashes_the_associations(bound):
    new_pepper = rotate(bound)
    h_old = lookup_hash(ADDRESS, "email", bound.pepper)
    h_new = lookup_hash(ADDRESS, "email", new_pepper)
    r = lookup(bound, "sha256", [h_new, h_old], pepper=new_pepper)
    assert r.json() == {"mappings": {h_new: ALICE}}


def test_unbind_by_session_removes_the_association(bound):
    # Unbind with the session that proved ownership.
    r = requests.post(bound.svc.url(V2 + "/3pid/unbind"), json={
        "mxid": ALICE, "threepid": {"medium": "email", "address": ADDRESS},
        "sid": bound.sid, "client_secret": "sec"})
    assert r.status_code == 200 and r.json() == {}
    r = lookup(bound, "sha256", [lookup_hash(ADDRESS, "email", bound.pepper)])
    assert r.json() == {"mappings": {}}
    assert requests.get(bound.svc.url(V1 + "/lookup"),
                        params={"medium": "email", "address": ADDRESS}).json() == {}


@pytest.fixture(scope="module")
def refusing(cluster):
    """One service for the refusals below, which change nothing: @bob:hs.test with a
    validated session for bob@agri.gouv.fr, and the current pepper."""
    hs = FakeHomeserver()
    sink = SmtpSink()
    try:
        with harness.Service(cluster, config=harness.homeserver_config(hs), smtp_port=sink.port) as svc:
            auth = {"Authorization": "Bearer " + harness.register(svc, hs, "@bob:hs.test")}
            sid = validated_session(svc, sink, auth, "bob@agri.gouv.fr")
            pepper = requests.get(svc.url(V2 + "/hash_details"), headers=auth).json()["lookup_pepper"]
            yield SimpleNamespace(svc=svc, auth=auth, sid=sid, pepper=pepper)
    finally:
        sink.stop()
        hs.close()


def bind(e, auth=True, **body):
    return requests.post(e.svc.url(V2 + "/3pid/bind"), headers=e.auth if auth else None,
                         json={"sid": e.sid, "client_secret": "sec", "mxid": "@bob:hs.test", **body})


def unbind(e, **proof):
    return requests.post(e.svc.url(V2 + "/3pid/unbind"), json={
        "mxid": "@bob:hs.test", "threepid": {"medium": "email", "address": "carol@agri.gouv.fr"}, **proof})


def unvalidated_bind(e):
    sid = requests.post(e.svc.url(V2 + "/validate/email/requestToken"), headers=e.auth, json={
        "client_secret": "s2", "email": "bob2@agri.gouv.fr", "send_attempt": 1}).json()["sid"]
    return bind(e, sid=sid, client_secret="s2")


def v2_lookup(e, auth=True, **body):
    return requests.post(e.svc.url(V2 + "/lookup"), headers=e.auth if auth else None, json=body)


REFUSED = {
    # Only one's own Matrix ID.
    "bind_other_mxid": (lambda e: bind(e, mxid="@mallory:hs.test"), 403, "M_UNAUTHORIZED"),
    "bind_wrong_client_secret": (lambda e: bind(e, client_secret="wrong"), 404, "M_NO_VALID_SESSION"),
    "bind_mxid_not_a_user_id": (lambda e: bind(e, mxid="bob"), 400, "M_INVALID_PARAM"),
    "bind_without_token": (lambda e: bind(e, auth=False), 401, "M_UNAUTHORIZED"),
    "bind_session_not_validated": (unvalidated_bind, 400, "M_SESSION_NOT_VALIDATED"),
    "unbind_without_proof": (lambda e: unbind(e), 403, "M_FORBIDDEN"),
    "unbind_session_of_another_address":
        (lambda e: unbind(e, sid=e.sid, client_secret="sec"), 403, "M_FORBIDDEN"),
    "lookup_unknown_algorithm":
        (lambda e: v2_lookup(e, algorithm="md5", pepper=e.pepper, addresses=[]), 400, "M_INVALID_PARAM"),
    "lookup_wrong_pepper":
        (lambda e: v2_lookup(e, algorithm="sha256", pepper="bad", addresses=[]), 400, "M_INVALID_PEPPER"),
    "lookup_pepper_required": (lambda e: v2_lookup(e, algorithm="sha256"), 400, "M_MISSING_PARAMS"),
    "lookup_too_many_addresses": (lambda e: v2_lookup(e, algorithm="sha256", pepper=e.pepper,
                                                      addresses=["x"] * 10001), 400, "M_INVALID_PARAM"),
    "lookup_without_token": (lambda e: v2_lookup(e, auth=False, algorithm="sha256", pepper=e.pepper,
                                                 addresses=[]), 401, "M_UNAUTHORIZED"),
    "hash_details_without_token":
        (lambda e: requests.get(e.svc.url(V2 + "/hash_details")), 401, "M_UNAUTHORIZED"),
    "v1_lookup_without_address":
        (lambda e: requests.get(e.svc.url(V1 + "/lookup")), 400, "M_MISSING_PARAMS"),
    "v1_bulk_lookup_threepid_without_address":
        (lambda e: requests.post(e.svc.url(V1 + "/bulk_lookup"), json={"threepids": [["email"]]}),
         400, "M_INVALID_PARAM"),
}


@pytest.mark.parametrize("case", REFUSED)
def test_refused(refusing, case):
    call, status, errcode = REFUSED[case]
    assert_matrix_error(call(refusing), status, errcode)


def test_lookup_of_no_address_finds_nothing(refusing):
    r = v2_lookup(refusing, algorithm="sha256", pepper=refusing.pepper, addresses=[])
    assert r.status_code == 200 and r.json() == {"mappings": {}}
