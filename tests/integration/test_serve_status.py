"""it.serve.status: the spec's status checks, CORS, health, metrics, access log."""
import requests

from harness import metric


def test_status_endpoints(service):
    for path in ("/_matrix/identity/v2", "/_matrix/identity/api/v1"):
        r = requests.get(service.url(path))
        assert r.status_code == 200
        assert r.json() == {}
        assert r.headers["Content-Type"] == "application/json"
        assert r.headers["Access-Control-Allow-Origin"] == "*"
        assert "Authorization" in r.headers["Access-Control-Allow-Headers"]
        assert "POST" in r.headers["Access-Control-Allow-Methods"]


def test_cors_preflight(service):
    r = requests.options(service.url("/_matrix/identity/v2/lookup"), headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert "OPTIONS" in r.headers["Access-Control-Allow-Methods"]
    assert "Content-Type" in r.headers["Access-Control-Allow-Headers"]


def test_health(service):
    r = requests.get(service.url("/health"))
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


def test_metrics_count_requests(service):
    for _ in range(3):
        requests.get(service.url("/_matrix/identity/v2"))
    requests.get(service.url("/nowhere"))
    text = requests.get(service.url("/metrics")).text
    route = "GET /_matrix/identity/v2"
    assert metric(text, "annuaire_http_requests_total", route=route, status="200") >= 3
    assert metric(text, "annuaire_http_requests_total", route="unmatched", status="404") == 1
    assert metric(text, "annuaire_http_request_duration_seconds_count", route=route) >= 3
    assert metric(text, "annuaire_http_request_duration_seconds_bucket", route=route, le="+Inf") >= 3
    assert metric(text, "annuaire_db_errors_total", kind="connect") == 0
    assert "# TYPE annuaire_http_request_duration_seconds histogram" in text


def test_access_log_line(service):
    requests.get(service.url("/_matrix/identity/v2"), params={"access_token": "SECRET-TOKEN"})
    assert service.wait_log("GET /_matrix/identity/v2 200")
    assert "SECRET-TOKEN" not in service.read_log()  # the query string is never logged
