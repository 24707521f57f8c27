"""it.invite.templates: store-invite mails carry the spec's optional fields (room avatar,
room type, join rules, sender avatar, guest access) as template variables, a field the
request did not send renders empty, a line break in one becomes a space; a template
naming a variable no request carries, or a "{{" left open, is refused by check-config and
by serve with file:line, and no "{{" reaches a mailbox."""
import os
import shutil

import pytest
import requests

import harness
import ports
from fake_hs import FakeHomeserver
from routing_env import V2, write_mapping
from smtp_sink import SmtpSink
from test_invite_forged import auth_for, config

EXTRA = ("Avatar: {{room_avatar_url}}\nType: {{room_type}}\nJoin: {{room_join_rules}}\n"
         "Sender avatar: {{sender_avatar_url}}\nGuest: {{guest_access}}\n")


def templates_with(tmp_path, name, extra):
    d = tmp_path / "templates"
    shutil.copytree(os.path.join(harness.SRC, "conf", "templates"), d)
    with open(d / name, "a") as f:
        f.write(extra)
    return str(d)


@pytest.fixture
def env(cluster, tmp_path):
    d = tmp_path / "templates"
    shutil.copytree(os.path.join(harness.SRC, "conf", "templates"), d)
    for lang in ("fr", "en"):
        with open(d / f"invite_{lang}.eml", "a") as f:
            f.write(EXTRA)
    hs = FakeHomeserver()
    sink = SmtpSink()
    svc = harness.Service(cluster, smtp_port=sink.port, templates_dir=str(d),
                          config=config(write_mapping(tmp_path), hs, ports.reserve()))
    svc.start()
    yield svc, sink, hs
    try:
        assert svc.stop() == 0, svc.read_log()
    finally:
        sink.stop()
        hs.close()


def invite(svc, hs, address, **fields):
    alice = auth_for(svc, hs, "@alice:agent.interieur.test")
    body = {"medium": "email", "address": address, "room_id": "!room:agent.interieur.test",
            "sender": "@alice:agent.interieur.test", "room_name": "Salle", **fields}
    r = requests.post(svc.url(V2 + "/store-invite"), headers=alice, json=body)
    assert r.status_code == 200, r.text


def test_optional_fields_are_variables(env):
    svc, sink, hs = env
    invite(svc, hs, "bob@gmail.com", room_avatar_url="mxc://agent.interieur.test/avatar",
           room_type="m.space", room_join_rules="invite",
           sender_avatar_url="mxc://agent.interieur.test/alice", guest_access="can_join\nBcc: x@evil.test")
    mail = sink.wait_for(lambda m: "bob@gmail.com" in str(m["To"]))
    text = mail[2].get_body(("plain",)).get_content()
    assert "Avatar: mxc://agent.interieur.test/avatar" in text
    assert "Type: m.space" in text and "Join: invite" in text
    assert "Sender avatar: mxc://agent.interieur.test/alice" in text
    assert "Guest: can_join Bcc: x@evil.test" in text  # one line: no header added
    assert mail[2]["Bcc"] is None and mail[1] == ["bob@gmail.com"]
    assert "{{" not in mail[2].as_string()


def test_fields_not_sent_render_empty(env):
    svc, sink, hs = env
    invite(svc, hs, "carol@gmail.com", room_type=7)  # not a string: empty too
    mail = sink.wait_for(lambda m: "carol@gmail.com" in str(m["To"]))
    text = mail[2].get_body(("plain",)).get_content()
    for label in ("Avatar:", "Type:", "Join:", "Sender avatar:", "Guest:"):
        assert any(l.rstrip() == label for l in text.splitlines()), (label, text)
    assert "{{" not in mail[2].as_string()


@pytest.mark.parametrize("name,extra,what", [
    ("invite_fr.eml", "Salon : {{room_nmae}}\n", "unknown variable {{room_nmae}}"),
    ("verification_en.eml", "{{room_name}}\n", "unknown variable {{room_name}}"),
    ("validation_ok_fr.html", "<p>{{link}}</p>\n", "unknown variable {{link}}"),
    ("invite_en.eml", "Open {{room_name\n}}\n", "without"),
])
def test_unknown_variable_refused_at_load(cluster, tmp_path, name, extra, what):
    d = templates_with(tmp_path, name, extra)
    with open(os.path.join(d, name)) as f:
        want_line = f.read().count("\n") - extra.count("\n") + 1
    svc = harness.Service(cluster, templates_dir=d)
    r = svc.run("check-config")
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"{name}:{want_line}: " in r.stderr and what in r.stderr, r.stderr
    svc.start(wait=False)
    rc = svc.proc.wait(timeout=30)
    assert rc != 0
    log = svc.read_log()
    assert f"{name}:{want_line}: " in log and what in log, log


def test_shipped_templates_pass(cluster):
    svc = harness.Service(cluster)
    r = svc.run("check-config")
    assert r.returncode == 0, r.stderr


def test_every_shown_field_is_cleaned_and_bounded(env):
    """A line break or a Unicode line separator in any field shown (room_name too) becomes a
    space instead of failing the invitation; a field too long for one SMTP line is cut."""
    svc, sink, hs = env
    invite(svc, hs, "dave@gmail.com", room_name="Salle\nBcc: x@evil.test\u2028deux\u0085trois",
           room_avatar_url="A" * 300000, room_type="x" + "\u00e9" * 300)
    mail = sink.wait_for(lambda m: "dave@gmail.com" in str(m["To"]))
    text = mail[2].get_body(("plain",)).get_content()
    assert "Salle Bcc: x@evil.test deux trois" in text
    assert mail[2]["Bcc"] is None and mail[1] == ["dave@gmail.com"]
    avatar = next(line for line in text.splitlines() if line.startswith("Avatar: "))
    assert avatar == "Avatar: " + "A" * 512
    kind = next(line for line in text.splitlines() if line.startswith("Type: "))
    assert kind == "Type: x" + "\u00e9" * 255  # 511 bytes: the 2-byte character is not split
    assert max(len(line) for line in mail[3].split(b"\r\n")) <= 998
