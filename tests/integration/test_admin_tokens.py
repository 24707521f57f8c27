"""it.admin.tokens: `annuaire admin token create NAME --scope S` prints a new token once and
stores only its SHA-256; the admin API takes it with its scopes; `token list` shows names,
scopes and uses (never a hash, nor the token); `token revoke NAME` deletes it, and the
admin API refuses it (401) from then on. Each change has its audit row (actor cli), and
bad names, unknown scopes, a name taken and an unknown name are refused naming the
argument."""
import hashlib
import json
import re
import subprocess

import pytest
import requests

import harness
from harness import assert_matrix_error
from test_admin_listener import auth

WHOAMI = "/_annuaire/admin/v1/whoami"


@pytest.fixture(scope="module")
def svc(cluster):
    with harness.Service(cluster, admin=True) as s:
        yield s


def token_cmd(svc, *args):
    return subprocess.run([harness.BIN, "admin", "token", *args, "-c", svc.config_path],
                          capture_output=True, text=True, timeout=60)


def one(svc, query):
    return svc.sql(query).strip()


def test_create_use_list_revoke(svc):
    r = token_cmd(svc, "create", "ops.desk-1", "--scope", "invitations,audit", "--scope", "audit")
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip()
    assert re.fullmatch(r"[A-Za-z0-9_-]{43,}", token), token  # 32 bytes or more, base64url
    assert "shown this once" in r.stderr
    # Only its hash is kept.
    assert one(svc, "SELECT token_hash, array_to_string(scopes, ',') FROM annuaire.admin_tokens"
                    " WHERE name = 'ops.desk-1'") == \
        hashlib.sha256(token.encode()).hexdigest() + "|invitations,audit"
    assert one(svc, "SELECT actor_kind, actor LIKE 'cli:%', object_kind, outcome,"
                    " details->>'scopes' FROM annuaire.audit_log"
                    " WHERE action = 'admin.token.created' AND object_id = 'ops.desk-1'") == \
        'cli|t|admin_token|ok|["invitations", "audit"]'
    assert token not in one(svc, "SELECT string_agg(details::text, ' ') FROM annuaire.audit_log")
    r = requests.get(svc.admin_url(WHOAMI), headers=auth(token), timeout=10)
    assert r.status_code == 200, r.text
    assert r.json() == {"name": "ops.desk-1", "scopes": ["invitations", "audit"]}

    r = token_cmd(svc, "list", "--json")
    assert r.returncode == 0, r.stderr
    listed = json.loads(r.stdout)
    assert [t["name"] for t in listed] == ["ops.desk-1"]
    assert listed[0]["scopes"] == ["invitations", "audit"]
    assert listed[0]["last_used_at"] is not None and listed[0]["created_at"].endswith("Z")
    assert set(listed[0]) == {"name", "scopes", "created_at", "last_used_at"}
    r = token_cmd(svc, "list")
    assert r.returncode == 0 and "ops.desk-1" in r.stdout and "invitations" in r.stdout
    digest = hashlib.sha256(token.encode()).hexdigest()
    assert digest not in r.stdout and token not in r.stdout

    r = token_cmd(svc, "revoke", "ops.desk-1")
    assert r.returncode == 0, r.stderr
    assert one(svc, "SELECT count(*) FROM annuaire.admin_tokens") == "0"
    assert one(svc, "SELECT actor_kind FROM annuaire.audit_log WHERE action = 'admin.token.revoked'"
                    " AND object_id = 'ops.desk-1'") == "cli"
    assert_matrix_error(requests.get(svc.admin_url(WHOAMI), headers=auth(token), timeout=10),
                        401, "M_UNAUTHORIZED")
    r = token_cmd(svc, "list")
    assert r.returncode == 0 and "no admin token" in r.stdout


def test_refusals(svc):
    assert token_cmd(svc, "create", "taken", "--scope", "all").returncode == 0
    audit = one(svc, "SELECT count(*) FROM annuaire.audit_log")
    cases = [
        (("create", "taken", "--scope", "sync"), 1, "the name 'taken' is taken"),
        (("create", "bad name", "--scope", "sync"), 1, "invalid name 'bad name'"),
        (("create", "x" * 65, "--scope", "sync"), 1, "invalid name"),
        (("create", "ok", "--scope", "sync,root"), 2, "unknown scope 'root'"),
        (("create", "ok"), 2, "--scope is required"),
        (("revoke", "nobody"), 1, "no token named 'nobody'"),
        (("revoke",), 2, "NAME is required"),
        (("rename", "x"), 2, "unknown action 'rename'"),
        (("list", "--scope", "all"), 2, "--scope is for create only"),
    ]
    for args, code, message in cases:
        r = token_cmd(svc, *args)
        assert r.returncode == code, (args, r.stdout, r.stderr)
        assert message in r.stderr, (args, r.stderr)
        assert r.stdout == "", args
    assert one(svc, "SELECT string_agg(name, ',' ORDER BY name) FROM annuaire.admin_tokens") == \
        "taken"
    assert one(svc, "SELECT count(*) FROM annuaire.audit_log") == audit


def test_help():
    r = subprocess.run([harness.BIN, "admin", "--help"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0 and "token create NAME --scope" in r.stdout
    r = subprocess.run([harness.BIN, "admin", "token", "create", "--help"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0 and "only its\nSHA-256 is stored" in r.stdout
    r = subprocess.run([harness.BIN, "admin", "tokens"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "expected 'token'" in r.stderr
