"""it.admin.listener: the admin API answers on its own listener only (admin.port), never
on the public or the internal one, and the public API never on it; a request without an
admin token, or with one that is unknown or passed in the query string, is 401; a token
without the route's scope is 403 and the refusal is in the audit log; check-config
refuses an admin port that is another listener's."""
import hashlib
import secrets
import subprocess

import pytest
import requests

import harness
import ports
from harness import assert_matrix_error

WHOAMI = "/_annuaire/admin/v1/whoami"


def add_token(svc, name, scopes):
    """A token stored as the service keeps them (its SHA-256 in hex); returns its text."""
    token = secrets.token_urlsafe(32)
    digest = hashlib.sha256(token.encode()).hexdigest()
    svc.sql(f"INSERT INTO annuaire.admin_tokens (name, token_hash, scopes)"
            f" VALUES ('{name}', '{digest}', ARRAY{scopes!r}::text[])")
    return token


@pytest.fixture(scope="module")
def svc(cluster):
    iport = ports.reserve()
    with harness.Service(cluster, admin=True, public_metrics=False,
                         config=f"routing:\n  internal_port: {iport}\n") as s:
        s.internal_port = iport
        yield s


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def test_admin_routes_only_on_the_admin_listener(svc):
    token = add_token(svc, "ops", ["all"])
    for base in (svc.url(""), f"http://127.0.0.1:{svc.internal_port}"):
        r = requests.get(base + WHOAMI, headers=auth(token), timeout=10)
        assert_matrix_error(r, 404, "M_UNRECOGNIZED")
        assert "allow" not in {k.lower() for k in r.headers}
    # ... and the public and internal APIs are not on the admin listener.
    for path in ("/_matrix/identity/v2", "/metrics", "/_matrix/identity/api/v1/internal-info"):
        assert_matrix_error(requests.get(svc.admin_url(path), timeout=10), 404, "M_UNRECOGNIZED")
    r = requests.get(svc.admin_url(WHOAMI), headers=auth(token), timeout=10)
    assert r.status_code == 200, r.text
    assert r.json() == {"name": "ops", "scopes": ["all"]}


def test_missing_wrong_or_query_string_tokens_are_401(svc):
    token = add_token(svc, "query", ["all"])
    cases = [{}, auth(""), auth("not-a-token"), auth(token[:-1]), {"Authorization": token}]
    for headers in cases:
        assert_matrix_error(requests.get(svc.admin_url(WHOAMI), headers=headers, timeout=10),
                            401, "M_UNAUTHORIZED")
    r = requests.get(svc.admin_url(WHOAMI), params={"access_token": token}, timeout=10)
    assert_matrix_error(r, 401, "M_UNAUTHORIZED")
    # An unknown token leaves nothing in the audit log (its text is never kept).
    assert svc.sql("SELECT count(*) FROM annuaire.audit_log") .strip() == "0"


def test_revoked_token_is_401(svc):
    token = add_token(svc, "gone", ["sync"])
    assert requests.get(svc.admin_url(WHOAMI), headers=auth(token), timeout=10).status_code == 200
    svc.sql("DELETE FROM annuaire.admin_tokens WHERE name = 'gone'")
    assert_matrix_error(requests.get(svc.admin_url(WHOAMI), headers=auth(token), timeout=10),
                        401, "M_UNAUTHORIZED")
    last = svc.sql("SELECT count(*) FROM annuaire.admin_tokens WHERE name = 'gone'").strip()
    assert last == "0"


def test_last_use_is_recorded(svc):
    token = add_token(svc, "used", ["audit"])
    assert svc.sql("SELECT last_used_at IS NULL FROM annuaire.admin_tokens"
                   " WHERE name = 'used'").strip() == "t"
    assert requests.get(svc.admin_url(WHOAMI), headers=auth(token), timeout=10).status_code == 200
    assert svc.sql("SELECT last_used_at IS NOT NULL FROM annuaire.admin_tokens"
                   " WHERE name = 'used'").strip() == "t"


@pytest.mark.parametrize("port_of", ["http", "internal"])
def test_check_config_refuses_an_admin_port_of_another_listener(cluster, port_of):
    iport = ports.reserve()
    svc = harness.Service(cluster, migrate=False, config=f"routing:\n  internal_port: {iport}\n")
    port = svc.config_port if port_of == "http" else iport
    with open(svc.config_path, "a") as f:
        f.write(f"admin:\n  port: {port}\n")
    r = subprocess.run([harness.BIN, "check-config", "-c", svc.config_path],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "admin.port" in r.stderr and "listener of its own" in r.stderr, r.stderr
