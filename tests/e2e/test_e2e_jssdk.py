"""e2e.jssdk: matrix-js-sdk, a real Matrix client library, registers with annuaire,
accepts its terms, asks for an e-mail token, (the test clicks the link that the SMTP
server received), binds and looks the address up, as Element would."""
import json
import os
import re
import subprocess

import harness
from fake_hs import FakeHomeserver
from smtp_sink import SmtpSink

HERE = os.path.dirname(os.path.abspath(__file__))

TERMS = """terms:
  policies:
    cgu:
      version: "1.0"
      fr: {name: "Conditions générales", url: "https://is.test/cgu.fr.html"}
      en: {name: "Terms of use", url: "https://is.test/cgu.en.html"}
"""


def node(*args):
    r = subprocess.run(["node", os.path.join(HERE, "client.mjs"), *args], capture_output=True,
                       text=True, timeout=60, cwd=HERE)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_matrix_js_sdk(cluster):
    hs = FakeHomeserver()
    hs.tokens["oid-sdk"] = "@frida:hs.test"
    sink = SmtpSink()
    try:
        with harness.Service(cluster, config=harness.homeserver_config(hs) + TERMS, smtp_port=sink.port) as svc:
            base = svc.url("")
            got = node("start", base, "oid-sdk", "hs.test", "Frida.K@Culture.Gouv.fr", "sdk-secret")
            assert got["token"]
            assert got["policies"]["cgu"]["version"] == "1.0"
            assert got["before_terms"] == {"httpStatus": 403, "errcode": "M_TERMS_NOT_SIGNED"}
            assert got["agree"] == {}
            assert got["account"] == {"user_id": "@frida:hs.test"}
            assert "sha256" in got["hash_details"]["algorithms"]
            assert got["sid"]

            msg = sink.wait(1)[0][2]
            link = re.search(r"https?://\S+submitToken\S+", msg.get_body(("plain",)).get_content()).group(0)
            import requests
            assert requests.get(link).status_code == 200

            done = node("finish", base, got["token"], got["sid"], "sdk-secret", "@frida:hs.test",
                        "frida.k@culture.gouv.fr")
            assert done["bind"]["mxid"] == "@frida:hs.test"
            assert done["bind"]["address"] == "frida.k@culture.gouv.fr"
            assert done["bind"]["signatures"]["is.test"]["ed25519:0"]
            assert done["lookup"]["mxid"] == "@frida:hs.test"
            assert done["bulk"]["threepids"] == [["email", "frida.k@culture.gouv.fr", "@frida:hs.test"]]
            assert done["bogus"] == {"httpStatus": 401, "errcode": "M_UNAUTHORIZED"}
    finally:
        sink.stop()
        hs.close()
