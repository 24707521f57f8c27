"""it.multi.ratelimit: with two `serve` instances on one database, the limits that guard mail
and outside calls hold across them (kept in PostgreSQL, annuaire.rate_buckets): a client
alternating between the instances gets 429 M_LIMIT_EXCEEDED on requestToken after the
burst in total (per IP and per address), on account/register after register_ip_burst, on
the directory search after search.per_token_per_hour; the lookup limits are a budget per
instance (documented: with N instances a client may get N times it). The buckets are
stored by SHA-256 of the limit's name and the key, never the address or the IP, and the
buckets full again are deleted."""
import hashlib
import uuid

import pytest
import requests

import harness
from fake_hs import FakeHomeserver
from harness import assert_matrix_error
from multi_env import V1, V2, Pair, request_token, second
from search_api_env import HS, SearchEnv

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


def key_hash(limit, key):
    return hashlib.sha256(f"{limit}\n{key}".encode()).hexdigest()


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
    # Stored hashed: neither the address nor the IP is in the table.
    rows = pair.sql("SELECT name || ' ' || encode(key_hash, 'hex') FROM annuaire.rate_buckets"
                    " ORDER BY 1").split("\n")
    assert f"request_token_address {key_hash('request_token_address', 'meme@mer.gouv.fr')}" in rows
    assert f"request_token_ip {key_hash('request_token_ip', '127.0.0.1')}" in rows


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


def test_full_buckets_deleted(cluster):
    with harness.Service(cluster, config=LIMITS) as svc:
        svc.sql("INSERT INTO annuaire.rate_buckets (name, key_hash, tokens, granted, updated_at,"
                " full_at) VALUES ('request_token_ip', sha256('old'), 0, true,"
                " now() - interval '1 hour', now() - interval '1 minute')")
        # The first shared take of an instance sweeps (then once a minute).
        assert request_token(svc, "balai@mer.gouv.fr", prefix=V1).status_code == 200
        assert svc.sql("SELECT count(*) FROM annuaire.rate_buckets"
                       " WHERE key_hash = sha256('old')").strip() == "0"
        assert svc.sql("SELECT count(*) FROM annuaire.rate_buckets").strip() == "2"


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
