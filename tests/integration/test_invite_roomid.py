"""it.invite.roomid: store-invite refuses a room_id holding a control character (C0, DEL,
C1: 400 M_INVALID_PARAM, nothing stored) and takes one of non-ASCII text; what `annuaire
invite` prints of a stored invitation (--show, --list, --revoke) has its control
characters escaped, while --json keeps the stored text exactly."""
import json

import pytest
import requests

import harness
from harness import assert_matrix_error
from routing_env import V2
from test_invite_lifecycle import AGENT, auth_for, make_env, psql  # noqa: F401

NO_LIMITS = "ratelimit:\n  enabled: false\n"


def store_invite(e, auth, room, address="esc@gmail.com"):
    return requests.post(e.svc.url(V2 + "/store-invite"), headers=auth, timeout=10, json={
        "medium": "email", "address": address, "room_id": room, "sender": AGENT})


def test_control_characters_refused(make_env):
    e = make_env(NO_LIMITS)
    alice = auth_for(e.svc, e.hs, AGENT)
    for room in ("!r:x\x1b[2J\x1b[31mRED", "!r:x\nforged", "!r:x\r", "!r:x\t", "!r:x\x7f",
                 "!r:x\u0085", "!r:x\u009b2J"):
        assert_matrix_error(store_invite(e, alice, room), 400, "M_INVALID_PARAM")
    assert psql(e.svc, "SELECT count(*) FROM annuaire.invites") == "0"
    r = store_invite(e, alice, "!café-😀:agent.interieur.test")
    assert r.status_code == 200, r.text
    assert psql(e.svc, "SELECT room_id FROM annuaire.invites") == "!café-😀:agent.interieur.test"


def test_cli_escapes_what_it_prints(make_env):
    e = make_env(NO_LIMITS)
    alice = auth_for(e.svc, e.hs, AGENT)
    assert store_invite(e, alice, "!r:agent.interieur.test").status_code == 200
    iid = psql(e.svc, "SELECT id FROM annuaire.invites")
    # As a row stored before room IDs were checked.
    stored = "!r:x\x1b[2J\x1b[31mRED\n2026\u009b\x7f\\é"
    psql(e.svc, "UPDATE annuaire.invites SET room_id = E'!r:x\\x1b[2J\\x1b[31mRED\\n2026"
                "\\u009b\\x7f\\\\é'")
    shown = r"!r:x\x1b[2J\x1b[31mRED\x0a2026\u009b\x7f\é"

    r = e.svc.run("invite", "--show", iid)
    assert r.returncode == 0, r.stderr
    assert f"  room_id         {shown}\n" in r.stdout
    assert "\x1b" not in r.stdout and "\x7f" not in r.stdout and "\u009b" not in r.stdout
    assert len(r.stdout.splitlines()) == len(r.stdout.split("\n")) - 1

    r = e.svc.run("invite", "--show", iid, "--json")
    assert json.loads(r.stdout)["room_id"] == stored

    r = e.svc.run("invite", "--list")
    assert r.returncode == 0 and "\x1b" not in r.stdout and len(r.stdout.splitlines()) == 2

    r = e.svc.run("invite", "--revoke", iid)
    assert r.returncode == 0, r.stderr
    assert f"  room_id         {shown}\n" in r.stdout and "\x1b" not in r.stdout
