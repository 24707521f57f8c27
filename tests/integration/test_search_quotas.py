"""it.search.quotas: the search quotas of search.per_token_per_hour and per_ip_per_hour
(buckets of that many, one back every 3,600,000 / n ms): with 3 per token the 4th search
of a token's user is 429 M_LIMIT_EXCEEDED with retry_after_ms, another user goes on;
identification draws on the same budgets; the client IP's budget (checked first) refuses
every token once spent; behind a trusted proxy each forwarded client has its own; 0 lifts
a quota."""
import pytest

from harness import assert_matrix_error
from search_api_env import HS, SearchEnv, address


@pytest.fixture
def env(cluster, tmp_path):
    e = SearchEnv(cluster, tmp_path, "  per_token_per_hour: 3\n  per_ip_per_hour: 6\n")
    try:
        yield e
    finally:
        e.close()


def refused(resp, interval_ms):
    assert_matrix_error(resp, 429, "M_LIMIT_EXCEEDED")
    retry = resp.json()["retry_after_ms"]
    # About one interval: a token comes back every 3,600,000 / n ms.
    assert isinstance(retry, int) and interval_ms // 2 < retry <= interval_ms + 1, retry
    return retry


def test_quotas(env):
    a = env.token(f"@a:{HS}")
    b = env.token(f"@b:{HS}")
    body = {"term": "lefevre"}
    # Per token's user: 3 (IP: 3 of 6 spent), the 4th refused (IP: 4).
    for _ in range(3):
        assert env.search(a, body).status_code == 200
    refused(env.search(a, body), 3_600_000 // 3)
    # Identification draws on the same budget.
    refused(env.entry(a, address=address("flefevre")), 3_600_000 // 3)
    # b has a budget of its own, but the IP's (6) is spent after b's first.
    assert env.entry(b, address=address("flefevre")).status_code == 200
    refused(env.search(b, body), 3_600_000 // 6)
    c = env.token(f"@c:{HS}")
    refused(env.search(c, body), 3_600_000 // 6)

    # Behind a trusted proxy each forwarded client has its own IP budget; the user's stays.
    env.svc.http_extra += "  trusted_proxies: [\"127.0.0.0/8\"]\n"
    env.restart("  per_token_per_hour: 3\n  per_ip_per_hour: 1\n")
    d = env.token(f"@d:{HS}")
    for ip in ("198.51.100.1", "198.51.100.2", "198.51.100.3"):
        assert env.search(d, body, headers={"X-Forwarded-For": ip}).status_code == 200
    refused(env.search(d, body, headers={"X-Forwarded-For": "198.51.100.4"}), 3_600_000 // 3)
    e = env.token(f"@e:{HS}")
    refused(env.search(e, body, headers={"X-Forwarded-For": "198.51.100.1"}), 3_600_000)
    assert env.search(e, body, headers={"X-Forwarded-For": "198.51.100.5"}).status_code == 200

    # 0: no limit.
    env.restart("  per_token_per_hour: 0\n  per_ip_per_hour: 0\n")
    f = env.token(f"@f:{HS}")
    for _ in range(12):
        assert env.search(f, body).status_code == 200
