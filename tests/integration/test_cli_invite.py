"""it.cli.invite: `annuaire invite` for operators without HTTP, the admin API's logic with
the command line's user as the actor: an invitation created (canonical address, routed
homeserver, mail queued and sent by the running serve, audit row of actor cli), listed
(--json and for people), shown, resent and revoked; an address no homeserver takes
(the admin API too) and bad arguments refused (usage errors exit 2); check-config refuses a VIP template naming
an unknown variable, with its file and line."""
import json
import os
import shutil
import subprocess

import pytest
import requests

import harness
from harness import assert_matrix_error
from routing_env import routing_config
from smtp_sink import SmtpSink
from test_admin_listener import add_token, auth

# No catch-all: an address of another domain has no homeserver.
MAPPING = r"""
medium:
  email:
    patterns:
      - '.*@partenaire\.test': {hs: agent.externe.test, requires_invite: true}
      - '.*@culture\.gouv\.fr': {hs: agent.culture.test}
"""


@pytest.fixture(scope="module")
def env(cluster, tmp_path_factory):
    sink = SmtpSink()
    path = tmp_path_factory.mktemp("routing") / "info.yaml"
    path.write_text(MAPPING)
    try:
        with harness.Service(cluster, admin=True, config=routing_config(path),
                             smtp_port=sink.port) as svc:
            svc.sink = sink
            yield svc
    finally:
        sink.stop()


def invite(svc, *args):
    return svc.run("invite", *args)


def one(svc, query):
    return svc.sql(query).strip()


def test_create_list_show_resend_revoke(env):
    svc = env
    r = invite(svc, "Guest.One@Partenaire.TEST", "--note", "Réunion du comité", "--expires", "12h",
               "--inviter", "Jeanne Martin", "--lang", "en", "--json")
    assert r.returncode == 0, r.stderr
    inv = json.loads(r.stdout)
    assert {k: inv[k] for k in ("kind", "address", "homeserver", "state", "inviter", "note")} == {
        "kind": "vip", "address": "guest.one@partenaire.test", "homeserver": "agent.externe.test",
        "state": "pending", "inviter": "Jeanne Martin", "note": "Réunion du comité"}
    assert inv["created_by"].startswith("cli:")
    assert one(svc, f"SELECT actor_kind, actor = '{inv['created_by']}' FROM annuaire.audit_log"
                    f" WHERE action = 'invitation.created' AND object_id = '{inv['id']}'") == "cli|t"
    assert one(svc, f"SELECT expires_at - created_at FROM annuaire.invites"
                    f" WHERE id = {inv['id']}") == "12:00:00"
    # Queued in the database, sent by the running serve, to the canonical address.
    msg = env.sink.wait_for(lambda m: m["To"] == "guest.one@partenaire.test")
    assert msg[1] == ["guest.one@partenaire.test"]
    assert msg[2]["Subject"] == "Jeanne Martin invites you to Tchap"
    body = msg[2].get_body(("plain",)).get_content()
    assert "Réunion du comité" in body and "agent.externe.test" in body

    # For people: says where the mail is.
    r = invite(svc, "second@partenaire.test")
    assert r.returncode == 0, r.stderr
    assert "invitation " in r.stdout and "second@partenaire.test" in r.stdout
    assert "queued in the database" in r.stdout and "annuaire serve" in r.stdout
    second = one(svc, "SELECT id FROM annuaire.invites WHERE address = 'second@partenaire.test'")
    assert one(svc, f"SELECT inviter FROM annuaire.invites WHERE id = {second}") != ""

    r = invite(svc, "--list", "--json", "--limit", "1")
    assert r.returncode == 0, r.stderr
    page = json.loads(r.stdout)
    assert [i["id"] for i in page["invitations"]] == [second]
    r = invite(svc, "--list", "--json", "--from", page["next"])
    assert [i["id"] for i in json.loads(r.stdout)["invitations"]] == [inv["id"]]
    r = invite(svc, "--list", "--address", "GUEST.ONE@partenaire.test")
    assert r.returncode == 0, r.stderr
    assert "guest.one@partenaire.test" in r.stdout and "second@" not in r.stdout
    r = invite(svc, "--show", inv["id"], "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["id"] == inv["id"]

    r = invite(svc, "--resend", inv["id"])
    assert r.returncode == 0, r.stderr
    harness.wait_until(lambda: len([m for m in env.sink.messages
                                    if m[1] == ["guest.one@partenaire.test"]]) == 2)
    assert one(svc, f"SELECT actor_kind FROM annuaire.audit_log WHERE action = 'invitation.resent'"
                    f" AND object_id = '{inv['id']}'") == "cli"

    r = invite(svc, "--revoke", inv["id"], "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["state"] == "revoked"
    assert one(svc, f"SELECT state, revoked_by LIKE 'cli:%' FROM annuaire.invites"
                    f" WHERE id = {inv['id']}") == "revoked|t"
    assert one(svc, f"SELECT actor_kind FROM annuaire.audit_log WHERE action = 'invitation.revoked'"
                    f" AND object_id = '{inv['id']}'") == "cli"
    for action in ("--revoke", "--resend"):
        r = invite(svc, action, inv["id"])
        assert r.returncode == 1 and "is revoked" in r.stderr, r.stderr
    r = invite(svc, "--show", "424242")
    assert r.returncode == 1 and "no invitation '424242'" in r.stderr


def test_refusals(env):
    svc = env
    before = one(svc, "SELECT count(*) FROM annuaire.invites")
    r = invite(svc, "someone@elsewhere.test")
    assert r.returncode == 1, r.stderr
    assert "no homeserver takes 'someone@elsewhere.test'" in r.stderr, r.stderr
    # The admin API says the same.
    token = add_token(svc, "desk", ["invitations"])
    r = requests.post(svc.admin_url("/_annuaire/admin/v1/invitations"), headers=auth(token),
                      json={"address": "someone@elsewhere.test"}, timeout=10)
    assert_matrix_error(r, 403, "M_FORBIDDEN")
    assert "No homeserver takes this address" in r.json()["error"]
    r = invite(svc, "not-an-address")
    assert r.returncode == 1 and "not a valid e-mail address" in r.stderr, r.stderr
    r = invite(svc, "a@partenaire.test", "--lang", "de")
    assert r.returncode == 1 and "lang" in r.stderr
    r = invite(svc, "a@partenaire.test", "--note", "x" * 501)
    assert r.returncode == 1 and "note" in r.stderr
    assert one(svc, "SELECT count(*) FROM annuaire.invites") == before
    # A pending one already: its id, no second invitation.
    assert invite(svc, "dup@partenaire.test").returncode == 0
    dup = one(svc, "SELECT id FROM annuaire.invites WHERE address = 'dup@partenaire.test'")
    r = invite(svc, "DUP@partenaire.test")
    assert r.returncode == 1 and f"pending already (id {dup})" in r.stderr, r.stderr


@pytest.mark.parametrize("args, message", [
    ([], "an ADDRESS to invite"),
    (["a@partenaire.test", "b@partenaire.test"], "unexpected argument 'b@partenaire.test'"),
    (["--list", "--show", "1"], "one of --list"),
    (["a@partenaire.test", "--expires", "2w"], "--expires '2w'"),
    (["a@partenaire.test", "--expires", "400d"], "--expires '400d'"),
    (["--list", "--note", "x"], "are for a new invitation"),
    (["a@partenaire.test", "--state", "pending"], "go with --list"),
    (["--bogus"], "unknown option '--bogus'"),
    (["--show"], "option '--show' needs an argument"),
])
def test_usage_errors_exit_2(env, args, message):
    r = env.run("invite", *args)
    assert r.returncode == 2, r.stdout + r.stderr
    assert message in r.stderr, r.stderr


def test_without_config_and_help():
    r = subprocess.run([harness.BIN, "invite", "a@b.test"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 2 and "-c FILE is required" in r.stderr
    r = subprocess.run([harness.BIN, "invite", "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "--resend ID" in r.stdout and "annuaire serve" in r.stdout


def test_check_config_refuses_an_unknown_variable_in_a_vip_template(cluster, tmp_path):
    d = tmp_path / "templates"
    shutil.copytree(os.path.join(harness.SRC, "conf", "templates"), d)
    path = d / "vip_en.eml"
    lines = path.read_text().splitlines(keepends=True)
    lines.insert(7, "Your room: {{room_name}}\n")  # a store-invite variable, not a VIP one
    path.write_text("".join(lines))
    svc = harness.Service(cluster, migrate=False, templates_dir=str(d))
    r = subprocess.run([harness.BIN, "check-config", "-c", svc.config_path], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"{path}:8: unknown variable {{{{room_name}}}}" in r.stderr, r.stderr
    # The shipped ones pass (with the signing key check-config also checks).
    svc = harness.Service(cluster, migrate=False)
    assert svc.run("keys", "generate").returncode == 0
    r = subprocess.run([harness.BIN, "check-config", "-c", svc.config_path], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
