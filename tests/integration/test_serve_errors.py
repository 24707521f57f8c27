"""it.serve.errors: unknown paths, wrong methods and oversized bodies get Matrix errors."""
import socket

import requests

from harness import assert_matrix_error


def test_unknown_path_is_404(service):
    for path in ("/", "/_matrix/identity/v3", "/_matrix/identity/v2/", "/_matrix/identity/v2/nope",
                 "/" + "a/" * 40):
        assert_matrix_error(requests.get(service.url(path)), 404, "M_UNRECOGNIZED")
    # A path that decodes to a NUL is no path of ours, nor any text (it.http.utf8).
    assert_matrix_error(requests.get(service.url("/%00")), 400, "M_INVALID_PARAM")


def test_wrong_method_is_405(service):
    r = requests.post(service.url("/_matrix/identity/v2"), json={})
    assert_matrix_error(r, 405, "M_UNRECOGNIZED")
    assert r.headers["Allow"] == "GET, OPTIONS"
    assert_matrix_error(requests.delete(service.url("/health")), 405, "M_UNRECOGNIZED")


def test_body_over_limit_is_413(service):
    big = b"{" + b" " * 1048600 + b"}"  # default limit 1048576
    register = service.url("/_matrix/identity/v2/account/register")  # a route that reads a body
    assert_matrix_error(requests.post(register, data=big,
                                      headers={"Content-Type": "application/json"}),
                        413, "M_TOO_LARGE")
    # Chunked, so the size is only known while reading.
    assert_matrix_error(requests.post(register,
                                      data=(big[i:i + 8192] for i in range(0, len(big), 8192)),
                                      headers={"Content-Type": "application/json"}),
                        413, "M_TOO_LARGE")
    # An absurd Content-Length is refused before any byte of body is read.
    with socket.create_connection(("127.0.0.1", service.port)) as s:
        s.sendall(b"POST /_matrix/identity/v2/account/register HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Length: 99999999999999999999\r\n\r\n")
        head = s.recv(4096)
    assert head.startswith(b"HTTP/1.1 413")
    # The service is unharmed.
    assert requests.get(service.url("/_matrix/identity/v2")).json() == {}


def test_garbage_requests(service):
    def send(raw, wait=True):
        with socket.create_connection(("127.0.0.1", service.port)) as s:
            s.settimeout(5)
            s.sendall(raw)
            return s.recv(4096) if wait else b""

    assert send(b"GARBAGE\r\n\r\n") == b""  # closed at once
    assert send(b"GET /x HTTP/1.1\r\nHost: a\r\nBad header\r\n\r\n").startswith(b"HTTP/1.1 400")
    assert send(b"GET /x HTTP/9.9\r\nHost: a\r\n\r\n").startswith(b"HTTP/1.1 505")
    send(b"\x00\xff GARBAGE\r\n\r\n", wait=False)  # left to the idle timeout
    assert requests.get(service.url("/_matrix/identity/v2")).status_code == 200
