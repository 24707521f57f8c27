"""it.http.bodies: a body is read only on the routes that take a JSON one. A request
with a body anywhere else (GET /health, an unknown path, a method the path does not
allow) is answered before the body is sent (413 M_TOO_LARGE, or the usual 404 / 405),
and the connection closed: no route buffers up to http.max_body_bytes for nothing."""
import json
import socket

import pytest

from test_http_framing import exchange

# Headers only: the declared body is never sent, so a reply proves it was not waited for.
NO_BODY_ROUTE = {
    "GET /health, Content-Length": b"GET /health HTTP/1.1\r\nHost: is.test\r\n"
    b"Content-Length: 1048576\r\n\r\n",
    "GET /health, chunked": b"GET /health HTTP/1.1\r\nHost: is.test\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n",
    "GET /_matrix/identity/v2, Content-Length": b"GET /_matrix/identity/v2 HTTP/1.1\r\n"
    b"Host: is.test\r\nContent-Length: 1000\r\n\r\n",
}
ELSEWHERE = {
    "unknown path": (b"POST /nowhere HTTP/1.1\r\nHost: is.test\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1048576\r\n\r\n", 404),
    "method not allowed": (b"POST /health HTTP/1.1\r\nHost: is.test\r\n"
                           b"Content-Type: application/json\r\nContent-Length: 1048576\r\n\r\n", 405),
}


def parse_error(body):
    return json.loads(body)["errcode"]


@pytest.mark.parametrize("name", sorted(NO_BODY_ROUTE))
def test_body_on_a_route_without_one_is_refused_unread(service, name):
    status, headers, body, closed = exchange(service.port, NO_BODY_ROUTE[name])
    assert status == 413, (name, status, body)
    assert parse_error(body) == "M_TOO_LARGE", body
    assert headers.get("connection", "").lower() == "close", headers
    assert closed, name


@pytest.mark.parametrize("name", sorted(ELSEWHERE))
def test_body_on_404_and_405_is_not_read(service, name):
    data, expected = ELSEWHERE[name]
    status, headers, body, closed = exchange(service.port, data)
    assert status == expected, (name, status, body)
    assert parse_error(body) == "M_UNRECOGNIZED", body
    assert headers.get("connection", "").lower() == "close", headers
    assert closed, name


def test_requests_without_a_body_keep_the_connection(service):
    with socket.create_connection(("127.0.0.1", service.port), timeout=10) as s:
        for _ in range(2):
            s.sendall(b"GET /health HTTP/1.1\r\nHost: is.test\r\nContent-Length: 0\r\n\r\n")
            buf = b""
            while b"\r\n\r\n" not in buf:
                chunk = s.recv(4096)
                assert chunk, buf
                buf += chunk
            assert buf.startswith(b"HTTP/1.1 200"), buf
            assert b"connection: close" not in buf.lower(), buf
            head, rest = buf.split(b"\r\n\r\n", 1)
            length = int([ln.split(b":", 1)[1] for ln in head.split(b"\r\n")
                          if ln.lower().startswith(b"content-length:")][0])
            while len(rest) < length:
                rest += s.recv(4096)


def test_json_routes_still_read_their_body(service):
    data = (b"POST /_matrix/identity/v2/account/register HTTP/1.1\r\nHost: is.test\r\n"
            b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
    status, _, body, _ = exchange(service.port, data, wait_close=False)
    assert status == 400 and b"M_MISSING_PARAMS" in body, body
