"""it.admin.denied: a token without a route's scope is refused 403 and the audit entry of
the refusal names the route (object_id its pattern, details its method and the scope),
never the path the client sent: a path of escape sequences and newlines forges no line in
`annuaire audit`, and a path of non-ASCII text is refused and written like any other."""
import http.client
import json

import pytest

import harness
from test_admin_listener import add_token, auth

INV = "/_annuaire/admin/v1/invitations"
FORGED = ("/%1b%5b31mRED%1b%5b0m%0a2026-12-01T00:00:00.000Z%20%20admin:root"
          "%20%20admin.token.created%0d%c2%9b2J%7f")


@pytest.fixture(scope="module")
def svc(cluster):
    with harness.Service(cluster, admin=True) as s:
        s.weak = add_token(s, "weak", ["sync"])
        yield s


def request(svc, method, path):
    conn = http.client.HTTPConnection("127.0.0.1", svc.admin_port, timeout=10)
    try:
        conn.request(method, path, headers=auth(svc.weak))
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def denied(svc):
    return svc.sql("SELECT object_kind, object_id, details::text FROM annuaire.audit_log"
                   " WHERE action = 'admin.denied' ORDER BY id").splitlines()


def test_refusal_names_the_route(svc):
    for method, path in [("GET", INV + FORGED), ("DELETE", INV + "/%C3%A9t%C3%A9%F0%9F%98%80"),
                         ("POST", INV + FORGED + "/resend"), ("GET", INV + "?state=%1b%0a")]:
        status, body = request(svc, method, path)
        assert (status, body["errcode"]) == (403, "M_FORBIDDEN"), (path, body)
    assert denied(svc) == [
        'route|/_annuaire/admin/v1/invitations/{id}|{"scope": "invitations", "method": "GET"}',
        'route|/_annuaire/admin/v1/invitations/{id}|{"scope": "invitations", "method": "DELETE"}',
        'route|/_annuaire/admin/v1/invitations/{id}/resend|'
        '{"scope": "invitations", "method": "POST"}',
        'route|/_annuaire/admin/v1/invitations|{"scope": "invitations", "method": "GET"}',
    ]


def test_audit_command_shows_one_line_per_refusal(svc):
    r = svc.run("audit")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 4, r.stdout
    for line in lines:
        assert "  admin:weak  admin.denied  route//_annuaire/admin/v1/invitations" in line, line
    assert "RED" not in r.stdout and "\x1b" not in r.stdout and "\r" not in r.stdout


def test_audit_command_escapes_stored_text(svc):
    # Text another writer may have stored: every field printed has its controls escaped.
    svc.sql("INSERT INTO annuaire.audit_log (actor_kind, actor, action, object_kind, object_id,"
            " outcome, details) VALUES ('user', E'@a:x\\x1b[2J', E'x.test\\n', E'k\\u0085',"
            " E'\\x1b[31mRED\\r\\n2026', 'ok', jsonb_build_object('note', E'\\u009b2J\\x7f\\x1b'))")
    r = svc.run("audit", "--actor", "@a:x\x1b[2J")
    assert r.returncode == 0, r.stderr
    line = r.stdout.split("  ", 1)[1]
    assert line == (r"user:@a:x\x1b[2J  x.test\x0a  k\u0085/\x1b[31mRED\x0d\x0a2026  ok  "
                    r'{"note":"\u009b2J\x7f\u001B"}' "\n")
