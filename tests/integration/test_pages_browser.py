"""it.pages.browser: the landing pages of the verification link in a real browser
(Debian's headless Chromium): French by default, English for an English browser, a
page that says the address is confirmed and what to do next, or that the link is not
valid and what to do instead. Each page is rendered to a screenshot and its text read
from the rendered document."""
import os
import re
import shutil
import subprocess

import pytest
import requests

import harness
from smtp_sink import SmtpSink

CHROMIUM = shutil.which("chromium")


def browse(url, out_dir, name, lang="fr-FR"):
    """Renders url: (text of the rendered page, screenshot path)."""
    shot = os.path.join(out_dir, name + ".png")
    common = [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
              f"--lang={lang}", f"--accept-lang={lang}", f"--user-data-dir={out_dir}/profile-{name}",
              "--window-size=900,700"]
    r = subprocess.run(common + [f"--screenshot={shot}", url], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    dom = subprocess.run(common + ["--dump-dom", url], capture_output=True, text=True, timeout=60)
    assert dom.returncode == 0, dom.stderr
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom.stdout))
    return text, shot


def assert_png(path):
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000, path


@pytest.fixture
def env(cluster):
    assert CHROMIUM, "chromium is not installed (scripts/test installs it)"
    sink = SmtpSink()
    try:
        with harness.Service(cluster, smtp_port=sink.port) as svc:
            yield svc, sink
    finally:
        sink.stop()


def link_for(svc, sink, email):
    r = requests.post(svc.url("/_matrix/identity/api/v1/validate/email/requestToken"),
                      json={"client_secret": "s3cret", "email": email, "send_attempt": 1})
    assert r.status_code == 200, r.text
    sid = r.json()["sid"]

    def find(msg):
        m = re.search(r"https?://\S+submitToken\S+", msg.get_body(("plain",)).get_content())
        return m.group(0) if m and f"sid={sid}" in m.group(0) else None
    return find(sink.wait_for(find)[2])


def test_landing_pages(env, tmp_path):
    svc, sink = env
    link = link_for(svc, sink, "agent@interieur.gouv.fr")
    text, shot = browse(link, str(tmp_path), "ok")
    assert_png(shot)
    assert "Adresse confirmée" in text and "revenir à l'application Tchap" in text, text
    # A wrong token: the page says so and what to do, in French.
    text, shot = browse(re.sub(r"token=[^&]+", "token=wrong", link), str(tmp_path), "failed")
    assert_png(shot)
    assert "Ce lien n'est pas valable" in text and "demandez un nouveau message" in text, text
    # An English browser gets the English pages.
    link = link_for(svc, sink, "agent@culture.gouv.fr")
    text, shot = browse(link, str(tmp_path), "ok-en", lang="en-US")
    assert_png(shot)
    assert "Address confirmed" in text, text
