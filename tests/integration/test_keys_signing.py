"""it.keys.signing: `keys generate` makes an owner-only key file and never overwrites it;
serve publishes that key on /pubkey (v2 and v1) and refuses to start without it."""
import base64
import os
import stat

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import harness
from harness import assert_matrix_error


def b64decode_unpadded(s):
    return base64.b64decode(s + "=" * (-len(s) % 4))


def public_key_of(path):
    kind, version, seed = open(path).read().split()
    assert (kind, version) == ("ed25519", "0")
    key = Ed25519PrivateKey.from_private_bytes(b64decode_unpadded(seed))
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode().rstrip("=")


def test_generate_is_private_and_never_overwrites(cluster):
    svc = harness.Service(cluster)  # runs keys generate
    mode = stat.S_IMODE(os.stat(svc.key_path).st_mode)
    assert mode == 0o600
    before = open(svc.key_path).read()
    r = svc.run("keys", "generate")
    assert r.returncode == 1
    assert "never overwritten" in r.stderr
    assert open(svc.key_path).read() == before


def test_serve_publishes_the_key(service):
    want = public_key_of(service.key_path)
    for prefix in ("/_matrix/identity/v2", "/_matrix/identity/api/v1"):
        r = requests.get(service.url(prefix + "/pubkey/ed25519:0"))
        assert r.status_code == 200
        assert r.json() == {"public_key": want}
        assert_matrix_error(requests.get(service.url(prefix + "/pubkey/ed25519:1")), 404, "M_NOT_FOUND")
        r = requests.get(service.url(prefix + "/pubkey/isvalid"), params={"public_key": want})
        assert r.json() == {"valid": True}
        r = requests.get(service.url(prefix + "/pubkey/isvalid"), params={"public_key": "AAAA"})
        assert r.json() == {"valid": False}
        assert_matrix_error(requests.get(service.url(prefix + "/pubkey/isvalid")), 400,
                            "M_MISSING_PARAMS")


def test_versions(service):
    r = requests.get(service.url("/_matrix/identity/versions"))
    assert r.status_code == 200
    versions = r.json()["versions"]
    assert "v1.1" in versions and all(isinstance(v, str) for v in versions)


def test_serve_refuses_without_key(cluster):
    svc = harness.Service(cluster)
    os.unlink(svc.key_path)
    svc.start(wait=False)
    rc = svc.proc.wait(30)
    svc.proc = None
    svc.log.close()
    assert rc == 1
    assert "annuaire keys generate" in svc.read_log()
