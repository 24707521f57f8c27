"""it.account.outbound: a homeserver that never answers cannot take the HTTP worker
threads: registers beyond account.max_concurrent_calls answer 503 M_UNKNOWN with
retry_after_ms at once, health probes keep answering while the others hang; one
homeserver has at most two calls in flight, so a hanging one leaves the others served;
register and unbind are rate-limited per client IP."""
import threading
import time
import uuid

import requests

import harness
from fake_hs import FakeHomeserver
from harness import assert_matrix_error

V2 = "/_matrix/identity/v2"
SLOTS = 1
REGISTERS = 8


def register_body(hs, user, server="hs.test"):
    oid = "oid-" + uuid.uuid4().hex
    hs.tokens[oid] = user
    return {"access_token": oid, "token_type": "Bearer", "matrix_server_name": server,
            "expires_in": 60}


def wait_for(cond, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return False


def test_hanging_homeserver_leaves_threads_for_others(cluster):
    hs = FakeHomeserver()
    hs.hold = threading.Event()
    config = (f"account:\n  homeservers: {{\"hs.test\": \"{hs.base_url}\"}}\n"
              f"  request_timeout: 60\n  max_concurrent_calls: {SLOTS}\n")
    try:
        with harness.Service(cluster, config=config) as svc:
            held = [None] * SLOTS

            def register(i):
                held[i] = requests.post(svc.url(V2 + "/account/register"),
                                        json=register_body(hs, f"@held{i}:hs.test"), timeout=90)

            calls = lambda: [q for q in hs.requests if q[1].endswith("/openid/userinfo")]
            workers = []
            for i in range(SLOTS):  # one at a time: each is waiting on the homeserver
                workers.append(threading.Thread(target=register, args=(i,)))
                workers[-1].start()
                assert wait_for(lambda: len(calls()) == i + 1), hs.requests
            # Every slot is taken: further registers are answered at once, and health
            # probes keep answering, while the held ones wait on the homeserver.
            for i in range(REGISTERS - SLOTS):
                r = requests.post(svc.url(V2 + "/account/register"),
                                  json=register_body(hs, f"@u{i}:hs.test"), timeout=10)
                assert_matrix_error(r, 503, "M_UNKNOWN")
                assert r.json()["retry_after_ms"] > 0
                assert requests.get(svc.url("/health"), timeout=10).status_code == 200
            assert len(calls()) == SLOTS  # no more than the bound reached the homeserver
            hs.hold.set()
            for t in workers:
                t.join(60)
            assert all(r is not None and r.status_code == 200 for r in held), held
            # Slots are given back: a register goes through again.
            r = requests.post(svc.url(V2 + "/account/register"), json=register_body(hs, "@after:hs.test"),
                              timeout=10)
            assert r.status_code == 200, r.text
    finally:
        hs.close()


def test_hanging_homeserver_leaves_slots_for_other_homeservers(cluster):
    evil, good = FakeHomeserver(), FakeHomeserver()
    evil.hold = threading.Event()
    config = (f"account:\n  homeservers: {{\"evil.test\": \"{evil.base_url}\", "
              f"\"good.test\": \"{good.base_url}\"}}\n"
              "  request_timeout: 60\n  max_concurrent_calls: 4\n")
    try:
        with harness.Service(cluster, config=config, threads=8) as svc:
            held = [None] * 2

            def register(i):
                held[i] = requests.post(svc.url(V2 + "/account/register"),
                                        json=register_body(evil, f"@held{i}:evil.test", "evil.test"),
                                        timeout=90)

            calls = lambda: [q for q in evil.requests if q[1].endswith("/openid/userinfo")]
            workers = []
            for i in range(2):
                workers.append(threading.Thread(target=register, args=(i,)))
                workers[-1].start()
                assert wait_for(lambda: len(calls()) == i + 1), evil.requests
            # evil.test has its two calls in flight: a third is answered at once, while
            # good.test (and its users) are served.
            r = requests.post(svc.url(V2 + "/account/register"),
                              json=register_body(evil, "@third:evil.test", "evil.test"), timeout=10)
            assert_matrix_error(r, 503, "M_UNKNOWN")
            assert r.json()["retry_after_ms"] > 0
            assert len(calls()) == 2
            for i in range(3):
                r = requests.post(svc.url(V2 + "/account/register"),
                                  json=register_body(good, f"@g{i}:good.test", "good.test"),
                                  timeout=10)
                assert r.status_code == 200, r.text
            evil.hold.set()
            for t in workers:
                t.join(60)
            assert all(r is not None and r.status_code == 200 for r in held), held
            r = requests.post(svc.url(V2 + "/account/register"),
                              json=register_body(evil, "@after:evil.test", "evil.test"), timeout=10)
            assert r.status_code == 200, r.text
    finally:
        evil.close()
        good.close()


def test_register_is_rate_limited_per_ip(cluster):
    hs = FakeHomeserver()
    config = harness.homeserver_config(hs) + (
        "ratelimit:\n  register_ip_burst: 2\n  register_ip_interval_ms: 600000\n"
        "  unbind_ip_burst: 2\n  unbind_ip_interval_ms: 600000\n")
    try:
        with harness.Service(cluster, config=config) as svc:
            for i in range(2):
                r = requests.post(svc.url(V2 + "/account/register"), json=register_body(hs, f"@r{i}:hs.test"))
                assert r.status_code == 200, r.text
            r = requests.post(svc.url(V2 + "/account/register"), json=register_body(hs, "@r9:hs.test"))
            assert_matrix_error(r, 429, "M_LIMIT_EXCEEDED")
            assert r.json()["retry_after_ms"] > 0
            n_calls = len(hs.requests)
            body = {"mxid": "@r0:hs.test", "threepid": {"medium": "email", "address": "r0@mer.gouv.fr"}}
            for _ in range(2):
                r = requests.post(svc.url(V2 + "/3pid/unbind"), json=body,
                                  headers={"Authorization": "X-Matrix origin=hs.test,key=\"ed25519:x\",sig=\"x\""})
                assert_matrix_error(r, 403, "M_FORBIDDEN")
            r = requests.post(svc.url(V2 + "/3pid/unbind"), json=body)
            assert_matrix_error(r, 429, "M_LIMIT_EXCEEDED")
            assert r.json()["retry_after_ms"] > 0
    finally:
        hs.close()
