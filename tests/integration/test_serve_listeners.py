"""it.serve.listeners: serve refuses to start on a port another process holds (no
SO_REUSEPORT sharing); on http.port 0 it listens where the system puts it and says
where in its log; and /metrics is on the internal listener only unless
http.public_metrics. A route of the other listener is 404 whatever the method (never a
405 whose Allow header would reveal it)."""
import re
import subprocess

import requests

import harness
import ports
from harness import assert_matrix_error


def test_second_serve_on_a_taken_port_exits(service):
    proc = subprocess.Popen([harness.BIN, "serve", "-c", service.config_path],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
        raise AssertionError("a second serve started on a taken port:\n" + out)
    assert proc.returncode != 0, out
    assert f"cannot listen on 127.0.0.1 port {service.port}" in out, out
    # The first one is untouched.
    assert requests.get(service.url("/_matrix/identity/v2"), timeout=10).json() == {}


def test_port_zero_listens_where_the_log_says(cluster):
    iport = ports.reserve()
    with harness.Service(cluster, port=0, config=f"routing:\n  internal_port: {iport}\n") as svc:
        port = svc.listening_port()
        assert port is not None and port != 0, svc.read_log()
        assert svc.port == port
        assert requests.get(f"http://127.0.0.1:{port}/_matrix/identity/v2", timeout=10).json() == {}
        # The internal listener's line is told apart, so the port read is the public one's.
        assert re.search(rf"listening on 127\.0\.0\.1 port {iport} with \d+ threads \(internal listener\)$",
                         svc.read_log(), re.M), svc.read_log()
        r = requests.get(f"http://127.0.0.1:{iport}/_matrix/identity/v2", timeout=10)
        assert r.status_code == 404


def test_metrics_only_on_the_internal_listener(cluster):
    iport = ports.reserve()
    with harness.Service(cluster, public_metrics=False,
                         config=f"routing:\n  internal_port: {iport}\n") as svc:
        assert requests.get(svc.url("/health"), timeout=10).status_code == 200
        assert_matrix_error(requests.get(svc.url("/metrics"), timeout=10), 404, "M_UNRECOGNIZED")
        r = requests.get(f"http://127.0.0.1:{iport}/metrics", timeout=10)
        assert r.status_code == 200, r.text
        assert "annuaire_http_requests_total" in r.text


def test_metrics_on_the_public_listener_when_asked(service):
    # The harness sets http.public_metrics for the tests that read /metrics.
    r = requests.get(service.url("/metrics"), timeout=10)
    assert r.status_code == 200 and "annuaire_http_requests_total" in r.text


def assert_hidden(resp):
    assert_matrix_error(resp, 404, "M_UNRECOGNIZED")
    assert "allow" not in {k.lower() for k in resp.headers}, resp.headers


def test_routes_of_the_other_listener_are_not_found_whatever_the_method(cluster):
    iport = ports.reserve()
    internal = f"http://127.0.0.1:{iport}"
    with harness.Service(cluster, public_metrics=False,
                         config=f"routing:\n  internal_port: {iport}\n") as svc:
        for method in ("GET", "POST", "PUT", "DELETE"):
            for path in ("/metrics", "/_matrix/identity/api/v1/internal-info"):
                assert_hidden(requests.request(method, svc.url(path), timeout=10))
            for path in ("/_matrix/identity/v2", "/_matrix/identity/v2/lookup",
                         "/_matrix/identity/v2/account/register"):
                assert_hidden(requests.request(method, internal + path, timeout=10))
        # Each listener's own routes still answer 405 with Allow on a wrong method.
        r = requests.post(svc.url("/_matrix/identity/v2"), timeout=10)
        assert_matrix_error(r, 405, "M_UNRECOGNIZED")
        assert "GET" in r.headers["Allow"]
        r = requests.post(internal + "/_matrix/identity/api/v1/internal-info", timeout=10)
        assert_matrix_error(r, 405, "M_UNRECOGNIZED")
        assert "GET" in r.headers["Allow"]
        r = requests.post(internal + "/metrics", timeout=10)
        assert_matrix_error(r, 405, "M_UNRECOGNIZED")
