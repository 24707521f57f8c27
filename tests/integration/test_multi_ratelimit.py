"""it.multi.ratelimit: with two `serve` instances on one database, the limits that guard mail
and outside calls hold across them (kept in PostgreSQL, annuaire.rate_buckets): a client
alternating between the instances gets 429 M_LIMIT_EXCEEDED on requestToken after the
burst in total (per IP and per address), on account/register after register_ip_burst, on
the directory search after search.per_token_per_hour; the lookup limits are a budget per
instance (documented: with N instances a client may get N times it). A flood of one key
from many connections on both instances gets no more than the burst and the refill over
its duration. What an instance's own bucket refuses never writes to the table. The buckets
are stored by an HMAC of the limit's name and the key under a key derived from the signing
key, never the address or the IP; the buckets full again are deleted by a background
thread, never one a take holds. With the database down, the search quotas are each
instance's (a forwarded search still answers), mail is refused with 503, and the outage is
logged once."""
import base64
import concurrent.futures as cf
import hashlib
import hmac
import subprocess
import threading
import time
import uuid

import pytest
import requests

import harness
from fake_hs import FakeHomeserver
from harness import assert_matrix_error
from multi_env import V1, V2, Pair, request_token, second
from search_api_env import HS, SearchEnv
from userdir_env import EXT, config as userdir_config

LIMITS = """ratelimit:
  request_token_ip_burst: 4
  request_token_ip_interval_ms: 600000
  request_token_address_burst: 2
  request_token_address_interval_ms: 600000
  register_ip_burst: 3
  register_ip_interval_ms: 600000
  lookup_ip_burst: 3
  lookup_ip_interval_ms: 600000
"""


@pytest.fixture
def pair(cluster):
    hs = FakeHomeserver()
    try:
        with Pair(cluster, config=harness.homeserver_config(hs) + LIMITS) as p:
            p.hs = hs
            yield p
    finally:
        hs.close()


def key_hash(svc, limit, key):
    """What the table holds of a bucket: HMAC-SHA256 of "limit\\nkey" under SHA-256 of
    "annuaire rate-limit keys" and the signing key's seed."""
    with open(svc.key_path) as f:
        b64 = f.read().split()[2]
    seed = base64.b64decode(b64 + "=" * (-len(b64) % 4))
    secret = hashlib.sha256(b"annuaire rate-limit keys" + seed).digest()
    return hmac.new(secret, f"{limit}\n{key}".encode(), hashlib.sha256).hexdigest()


def test_request_token_limited_across_instances(pair):
    a, b = pair.a, pair.b
    # Per address (2): the same address on a, b, then a.
    assert request_token(a, "meme@mer.gouv.fr", attempt=1, prefix=V1).status_code == 200
    assert request_token(b, "meme@mer.gouv.fr", attempt=2, prefix=V1).status_code == 200
    r = request_token(a, "meme@mer.gouv.fr", attempt=3, prefix=V1)
    assert_matrix_error(r, 429, "M_LIMIT_EXCEEDED")
    assert 0 < r.json()["retry_after_ms"] <= 600001
    # Per IP (4, three spent above): one more on b, then refused on both.
    assert request_token(b, "autre@mer.gouv.fr", prefix=V1).status_code == 200
    for svc in (a, b):
        assert_matrix_error(request_token(svc, f"{uuid.uuid4().hex}@mer.gouv.fr", prefix=V1),
                            429, "M_LIMIT_EXCEEDED")
    # Stored as a keyed hash: neither the address nor the IP, nor their plain SHA-256
    # (which anyone could compute for every IPv4 address), is in the table.
    rows = pair.sql("SELECT name || ' ' || encode(key_hash, 'hex') FROM annuaire.rate_buckets"
                    " ORDER BY 1").split("\n")
    addr = key_hash(a, "request_token_address", "meme@mer.gouv.fr")
    assert f"request_token_address {addr}" in rows
    assert f"request_token_ip {key_hash(a, 'request_token_ip', '127.0.0.1')}" in rows
    plain = hashlib.sha256(b"request_token_ip\n127.0.0.1").hexdigest()
    assert pair.sql(f"SELECT count(*) FROM annuaire.rate_buckets"
                    f" WHERE key_hash = decode('{plain}', 'hex')").strip() == "0"


def test_register_limited_across_instances(pair):
    a, b, hs = pair.a, pair.b, pair.hs
    for i, svc in enumerate((a, b, a)):
        harness.register(svc, hs, f"@u{i}:hs.test")
    hs.tokens["oid-last"] = "@u9:hs.test"
    r = requests.post(b.url(V2 + "/account/register"), json={
        "access_token": "oid-last", "token_type": "Bearer", "matrix_server_name": "hs.test"})
    assert_matrix_error(r, 429, "M_LIMIT_EXCEEDED")


def test_lookup_limited_per_instance(pair):
    a, b = pair.a, pair.b

    def bulk(svc):
        return requests.post(svc.url(V1 + "/bulk_lookup"), json={"threepids": []})

    # A budget of 3 on each instance: 3 on a, the 4th refused there; b still has its 3.
    for _ in range(3):
        assert bulk(a).status_code == 200
    assert_matrix_error(bulk(a), 429, "M_LIMIT_EXCEEDED")
    for _ in range(3):
        assert bulk(b).status_code == 200
    assert_matrix_error(bulk(b), 429, "M_LIMIT_EXCEEDED")
    # Nothing of it in the database.
    assert pair.sql("SELECT count(*) FROM annuaire.rate_buckets WHERE name LIKE 'lookup%'"
                    ).strip() == "0"


FLOOD = """ratelimit:
  request_token_ip_burst: 2
  request_token_ip_interval_ms: 50
  request_token_address_burst: 1000
  request_token_address_interval_ms: 1000
"""


def test_concurrent_flood_one_key(cluster):
    """16 connections on each instance flood one key (the client IP): the grants are at most
    the burst and one per interval over the flood's duration (measured around it: an upper
    bound), however the takes queue on the bucket's row."""
    hs = FakeHomeserver()
    try:
        with Pair(cluster, config=harness.homeserver_config(hs) + FLOOD, threads=16) as p:
            svcs = (p.a, p.b)
            codes = []
            lock = threading.Lock()
            stop = time.monotonic() + 3

            def worker(w):
                s = requests.Session()
                n = 0
                while time.monotonic() < stop:
                    n += 1
                    r = s.post(svcs[w % 2].url(V1 + "/validate/email/requestToken"),
                               json={"client_secret": "s", "email": f"f{w}-{n}@mer.gouv.fr",
                                     "send_attempt": 1}, timeout=30)
                    with lock:
                        codes.append(r.status_code)

            t0 = time.monotonic()
            with cf.ThreadPoolExecutor(32) as ex:
                list(ex.map(worker, range(32)))
            elapsed_ms = (time.monotonic() - t0) * 1000
            assert set(codes) <= {200, 429}, set(codes)
            granted = codes.count(200)
            bound = 2 + int(elapsed_ms // 50) + 1  # + 1: the clocks' rounding
            assert codes.count(429) > granted, (granted, len(codes))  # it was a flood
            assert granted <= bound, (granted, bound, len(codes))
            assert p.sql("SELECT count(*) FROM annuaire.validation_sessions").strip() == str(granted)
    finally:
        hs.close()


REFUSE = """ratelimit:
  request_token_ip_burst: 1
  request_token_ip_interval_ms: 600000
"""


def test_refused_locally_without_write(cluster):
    """Once this instance's own bucket is empty, its refusals never touch the table: the
    bucket's row keeps its version (xmin) and no row is added, while 429s are answered."""
    with harness.Service(cluster, config=REFUSE) as svc:
        assert request_token(svc, "premier@mer.gouv.fr", prefix=V1).status_code == 200
        q = "SELECT xmin::text || ' ' || updated_at::text FROM annuaire.rate_buckets" \
            " WHERE name = 'request_token_ip'"
        before = svc.sql(q).strip()
        rows = svc.sql("SELECT count(*) FROM annuaire.rate_buckets").strip()
        for i in range(10):
            assert_matrix_error(request_token(svc, f"suivant{i}@mer.gouv.fr", prefix=V1),
                                429, "M_LIMIT_EXCEEDED")
        assert svc.sql(q).strip() == before
        assert svc.sql("SELECT count(*) FROM annuaire.rate_buckets").strip() == rows
        assert svc.sql("SELECT relpersistence FROM pg_class"
                       " WHERE oid = 'annuaire.rate_buckets'::regclass").strip() == "u"


def test_full_buckets_deleted_in_background(cluster):
    """5,000 buckets full again are all deleted by an instance's housekeeping thread, with
    no request to it; one that a take holds at that moment, and leaves not full, is kept."""
    p = Pair(cluster, config=LIMITS)
    try:
        p.a.start()
        p.sql("INSERT INTO annuaire.rate_buckets SELECT 'register_ip', sha256(g::text::bytea),"
              " 0, true, now() - interval '1 hour', now() - interval '1 minute'"
              " FROM generate_series(1, 5000) g")
        # A take of the bucket 'held', not yet committed, that leaves it not full.
        holder = subprocess.Popen(
            [harness.PG_CLUSTER, "psql", cluster.pgdir, "-d", p.db, "-At", "-v",
             "ON_ERROR_STOP=1"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True)
        holder.stdin.write("BEGIN;\n"
                           "UPDATE annuaire.rate_buckets SET tokens = 0, updated_at = now(),"
                           " full_at = now() + interval '1 hour'"
                           " WHERE key_hash = sha256('1'::bytea) RETURNING 'held';\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "held"
        p.b.start()  # its housekeeping sweeps at start
        deadline = time.monotonic() + 30
        left = None
        while time.monotonic() < deadline:
            left = p.sql("SELECT count(*) FROM annuaire.rate_buckets").strip()
            if left == "1":
                break
            time.sleep(0.2)
        holder.stdin.write("COMMIT;\n")
        holder.stdin.close()
        assert holder.wait(timeout=10) == 0
        assert left == "1"
        assert p.sql("SELECT count(*) FROM annuaire.rate_buckets"
                     " WHERE key_hash = sha256('1'::bytea) AND full_at > now()").strip() == "1"
    finally:
        rcs = p.stop()
        assert all(rc in (0, None) for rc in rcs), rcs


def test_database_down(tmp_path):
    """With the database down: a user-directory search forwarded to the homeserver (which
    needs no database) still answers under this instance's quota, requestToken gets 503
    M_UNKNOWN, and the shared limits' outage is one log line, not one per request."""
    own = harness.Cluster.create()  # stopping the shared one would disturb other tests
    hs = FakeHomeserver()
    try:
        host = "matrix.agri.test"
        search = f"  client_hosts: {{\"{host}\": \"{hs.base_url}/\"}}\n  per_token_per_hour: 3\n"
        with harness.Service(own, config=userdir_config(tmp_path, hs, search)) as svc:
            hs.client_tokens["tok-bob"] = f"@bob:{EXT}"
            hs.directory, hs.directory_limited, hs.directory_mode = [
                {"user_id": "@x:ext.test", "display_name": "X"}], False, "ok"

            def search_():
                return requests.post(svc.url("/_matrix/client/v3/user_directory/search"),
                                     json={"search_term": "xx"},
                                     headers={"Host": host, "Authorization": "Bearer tok-bob"},
                                     timeout=30)

            assert search_().status_code == 200
            own.stop()
            try:
                # The per-token quota (3, one spent) is now this instance's alone.
                for _ in range(2):
                    r = search_()
                    assert r.status_code == 200, r.text
                assert_matrix_error(search_(), 429, "M_LIMIT_EXCEEDED")
                for i in range(5):
                    assert_matrix_error(request_token(svc, f"panne{i}@mer.gouv.fr", prefix=V1),
                                        503, "M_UNKNOWN")
            finally:
                own.start()
            lines = [line for line in svc.read_log().splitlines()
                     if "ratelimit:" in line and "WARN" in line]
            assert len(lines) == 1, lines
    finally:
        hs.close()
        own.destroy()


def test_search_quota_across_instances(cluster, tmp_path):
    env = SearchEnv(cluster, tmp_path, "  per_token_per_hour: 3\n  per_ip_per_hour: 100\n")
    b = second(env.svc, config=env.base + env.search_section(
        "  per_token_per_hour: 3\n  per_ip_per_hour: 100\n"))
    try:
        b.start()
        auth = env.token(f"@a:{HS}")
        body = {"term": "lefevre"}
        hosts = (env.svc, b, env.svc)
        for svc in hosts:
            r = requests.post(svc.url("/_annuaire/v1/directory/search"), headers=auth, json=body,
                              timeout=10)
            assert r.status_code == 200, r.text
        r = requests.post(b.url("/_annuaire/v1/directory/search"), headers=auth, json=body,
                          timeout=10)
        assert_matrix_error(r, 429, "M_LIMIT_EXCEEDED")
    finally:
        assert b.stop() == 0
        env.close()
