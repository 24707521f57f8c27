"""A small stand-in for a Matrix homeserver (not ours, so tests may fake it):
answers the federation OpenID userinfo call from a table of tokens, the client API's
account/whoami from a table of access tokens and its user_directory/search with the
results a test sets (or fails it: 500, an answer slower than the caller waits for, a
connection closed without an answer), over HTTP or HTTPS with a throw-away self-signed
certificate, and records what it got."""
import base64
import json
import os
import socket
import time
import ssl
import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class FakeHomeserver:
    def __init__(self, tls=False):
        self.tokens = {}  # OpenID access token -> user id
        self.requests = []
        self.onbind = []  # bodies of the 3pid/onbind callbacks received
        self.onbind_status = [200]  # statuses to answer, in turn (the last one repeats)
        self.onbind_delay = 0.0  # seconds each onbind callback takes to answer
        self.server_name = None  # set by the test: the name it signs as
        self.hold = None  # a threading.Event: userinfo waits for it (a homeserver that hangs)
        self.key_id = "ed25519:fake"
        self.client_tokens = {}  # client-API access token -> user id (account/whoami)
        self.whoami_status = None  # answer whoami with this status instead (500...)
        self.directory = []  # user_directory/search's results, as the homeserver gives them
        self.directory_limited = False
        self.directory_mode = "ok"  # "ok", "error" (500), "slow", "drop" (no answer)
        self.directory_delay = 5.0  # seconds a "slow" search takes
        self.client_calls = []  # (method, path, headers, body) of the client-API calls
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        self.signing_key = Ed25519PrivateKey.generate()
        hs = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def bearer(self):
                auth = self.headers.get("Authorization", "")
                return auth[7:] if auth.startswith("Bearer ") else None

            def user_directory(self, body):
                if hs.directory_mode == "error":
                    return self.reply(500, {"errcode": "M_UNKNOWN", "error": "broken"})
                if hs.directory_mode == "slow":
                    time.sleep(hs.directory_delay)
                if hs.directory_mode == "drop":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return None
                if self.bearer() not in hs.client_tokens:
                    return self.reply(401, {"errcode": "M_UNKNOWN_TOKEN", "error": "nope"})
                return self.reply(200, {"results": hs.directory, "limited": hs.directory_limited})

            def do_GET(self):
                url = urlparse(self.path)
                hs.requests.append(("GET", url.path, parse_qs(url.query)))
                if url.path == "/_matrix/client/v3/account/whoami":
                    hs.client_calls.append(("GET", url.path, dict(self.headers), None))
                    if hs.whoami_status is not None:
                        return self.reply(hs.whoami_status, {"errcode": "M_UNKNOWN", "error": "x"})
                    if self.bearer() in hs.client_tokens:
                        return self.reply(200, {"user_id": hs.client_tokens[self.bearer()]})
                    return self.reply(401, {"errcode": "M_UNKNOWN_TOKEN", "error": "nope"})
                if url.path == "/_matrix/key/v2/server":
                    return self.reply(200, hs.server_keys())
                if url.path == "/_matrix/federation/v1/openid/userinfo":
                    if hs.hold is not None:
                        hs.hold.wait(120)
                    token = parse_qs(url.query).get("access_token", [""])[0]
                    if token in hs.tokens:
                        return self.reply(200, {"sub": hs.tokens[token]})
                    return self.reply(401, {"errcode": "M_UNKNOWN_TOKEN", "error": "nope"})
                self.reply(404, {"errcode": "M_UNRECOGNIZED", "error": "not here"})

            def do_POST(self):
                url = urlparse(self.path)
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                hs.requests.append(("POST", url.path, body))
                if url.path in ("/_matrix/client/v3/user_directory/search",
                                "/_matrix/client/r0/user_directory/search"):
                    hs.client_calls.append(("POST", url.path, dict(self.headers), body))
                    return self.user_directory(body)
                if url.path == "/_matrix/federation/v1/3pid/onbind":
                    time.sleep(hs.onbind_delay)
                    status = hs.onbind_status.pop(0) if len(hs.onbind_status) > 1 else hs.onbind_status[0]
                    hs.onbind.append((status, body))
                    return self.reply(status, {} if status == 200 else {"errcode": "M_UNKNOWN", "error": "x"})
                self.reply(404, {"errcode": "M_UNRECOGNIZED", "error": "not here"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.scheme = "http"
        if tls:
            self.scheme = "https"
            d = tempfile.mkdtemp()
            cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                            "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", cert],
                           check=True, capture_output=True)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def sign(self, obj):
        """Signs a JSON object the Matrix way, as this homeserver."""
        signable = {k: v for k, v in obj.items() if k not in ("signatures", "unsigned")}
        canonical = json.dumps(signable, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        sig = base64.b64encode(self.signing_key.sign(canonical.encode())).decode().rstrip("=")
        obj.setdefault("signatures", {}).setdefault(self.server_name, {})[self.key_id] = sig
        return obj

    def public_key_b64(self):
        from cryptography.hazmat.primitives import serialization
        raw = self.signing_key.public_key().public_bytes(serialization.Encoding.Raw,
                                                          serialization.PublicFormat.Raw)
        return base64.b64encode(raw).decode().rstrip("=")

    def server_keys(self):
        return self.sign({"server_name": self.server_name, "valid_until_ts": int(time.time() * 1000) + 3600000,
                          "verify_keys": {self.key_id: {"key": self.public_key_b64()}}, "old_verify_keys": {}})

    @property
    def base_url(self):
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def close(self):
        if self.hold is not None:
            self.hold.set()
        self.server.shutdown()
        self.server.server_close()
