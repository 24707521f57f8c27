"""it.mail.long: a VIP invitation whose note (500 characters, the most the API takes) and
inviter (100) are made of multi-byte characters is mailed: no line of the message passes
SMTP's 998 octets (the relay refuses such a message, and it would be retried forever), the
over-long body line is broken after its last space within the limit, else between two
characters, and the note's text is all there when the lines are put back together."""
import pytest
import requests

import harness
from routing_env import routing_config, write_mapping
from smtp_sink import SmtpSink
from test_admin_listener import add_token, auth

INV = "/_annuaire/admin/v1/invitations"
EMOJI = "\U0001F600"


@pytest.fixture(scope="module")
def env(cluster, tmp_path_factory):
    sink = SmtpSink()
    path = write_mapping(tmp_path_factory.mktemp("routing"))
    try:
        with harness.Service(cluster, admin=True, smtp_port=sink.port,
                             config=routing_config(path)) as svc:
            svc.sink = sink
            svc.token = add_token(svc, "vip-desk", ["invitations"])
            yield svc
    finally:
        sink.stop()


def invite_and_read(svc, address, note, inviter):
    """Creates the invitation; returns the raw message and its body's lines."""
    r = requests.post(svc.admin_url(INV), headers=auth(svc.token), timeout=10,
                      json={"address": address, "note": note, "inviter": inviter, "lang": "en"})
    assert r.status_code == 200, r.text
    assert r.json()["note"] == note
    mail = svc.sink.wait_for(lambda m: m["To"] == address)
    raw = mail[3]
    lines = raw.split(b"\r\n")
    assert max(len(line) for line in lines) <= 998, sorted(len(line) for line in lines)[-3:]
    assert mail[2]["Subject"] == f"{inviter} invites you to Tchap"
    body = raw.split(b"\r\n\r\n", 1)[1]
    return body.split(b"\r\n")


def test_emoji_note_broken_between_characters(env):
    note, inviter = EMOJI * 500, EMOJI * 100
    lines = invite_and_read(env, "emoji@example.org", note, inviter)
    # 2,000 octets without a space: every line is whole characters, the text all there.
    parts = [text for text in (line.decode("utf-8") for line in lines) if set(text) == {EMOJI}]
    assert len(parts) == 3
    assert "".join(parts) == note


def test_spaced_note_broken_after_a_space(env):
    note = "東京都 " * 124 + "東京都!"  # 500 characters, 1,250 octets
    lines = invite_and_read(env, "words@example.org", note, "Сергей Петров")
    first = next(i for i, line in enumerate(lines) if line.startswith("東京都".encode()))
    assert lines[first].endswith(b" ") and len(lines[first]) == 990
    assert b"".join(lines[first:first + 2]).decode("utf-8") == note
