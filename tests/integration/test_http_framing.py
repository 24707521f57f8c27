"""it.http.framing: a request whose body length is ambiguous (two Content-Length
headers, Content-Length with Transfer-Encoding, a transfer coding other than a lone
chunked) gets 400 M_UNKNOWN and the connection is closed: a proxy in front could
frame it otherwise (request smuggling). So does a header line that a proxy may read as
a framing header MHD does not see: a name that is not a token ("Transfer-Encoding :"),
a folded line (glued by MHD onto the name before it), a bare CR inside a line; the
bytes after the body are never answered as a second request."""
import socket

import pytest

REGISTER = (b"POST /_matrix/identity/v2/account/register HTTP/1.1\r\nHost: is.test\r\n"
            b"Content-Type: application/json\r\n")
CHUNKED_BODY = b"2\r\n{}\r\n0\r\n\r\n"
SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"

# Headers MHD reads otherwise than a proxy in front may (each framed by Content-Length: 2
# for MHD, the bytes after "{}" a second request if it were accepted).
MALFORMED = {
    "Transfer-Encoding, blank before the colon": REGISTER
    + b"Content-Length: 2\r\nTransfer-Encoding : chunked\r\n\r\n{}" + SMUGGLED,
    "Transfer-Encoding, tab before the colon": REGISTER
    + b"Content-Length: 2\r\nTransfer-Encoding\t: chunked\r\n\r\n{}" + SMUGGLED,
    "second Content-Length, blank before the colon": REGISTER
    + b"Content-Length: 2\r\nContent-Length : 40\r\n\r\n{}" + SMUGGLED,
    "Transfer-Encoding folded": REGISTER
    + b"Content-Length: 2\r\nTransfer-Encoding:\r\n chunked\r\n\r\n{}" + SMUGGLED,
    "Content-Length folded under another header": REGISTER
    + b"Content-Length: 2\r\nX-A: b\r\n Content-Length: 40\r\n\r\n{}" + SMUGGLED,
    "Transfer-Encoding after a bare CR": REGISTER
    + b"X: a\rTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n{}" + SMUGGLED,
    "name extending Content-Length": REGISTER
    + b"Content-Length: 2\r\nContent-Length-X: 40\r\n\r\n{}" + SMUGGLED,
    "control character in a value": REGISTER
    + b"Content-Length: 2\r\nX-A: b\x01c\r\n\r\n{}" + SMUGGLED,
}

AMBIGUOUS = {
    "two different Content-Length": REGISTER + b"Content-Length: 2\r\nContent-Length: 5\r\n\r\n{}xyz",
    "two equal Content-Length": REGISTER + b"Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
    "Content-Length and chunked": REGISTER + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
    + CHUNKED_BODY,
    "unknown coding": REGISTER + b"Transfer-Encoding: gzip\r\n\r\n{}",
    "coding list": REGISTER + b"Transfer-Encoding: gzip, chunked\r\n\r\n" + CHUNKED_BODY,
    "chunked and a blank": REGISTER + b"Transfer-Encoding: chunked \r\n\r\n" + CHUNKED_BODY,
    "chunked twice": REGISTER + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"
    + CHUNKED_BODY,
    "GET with two Content-Length": b"GET /_matrix/identity/v2 HTTP/1.1\r\nHost: is.test\r\n"
    b"Content-Length: 0\r\nContent-Length: 1\r\n\r\nx",
}


def exchange(port, data, wait_close=True):
    """Sends data, reads one reply; returns (status, headers, body, whether the server
    closed the connection after it)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(4096)
            assert chunk, f"connection closed before a reply: {buf!r}"
            buf += chunk
        head, body = buf.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:])}
        while len(body) < int(headers.get("content-length", "0")):
            chunk = s.recv(4096)
            assert chunk
            body += chunk
        if not wait_close:
            return status, headers, body, None
        try:
            closed = s.recv(4096) == b""
        except ConnectionResetError:
            closed = True
        except socket.timeout:
            closed = False
        return status, headers, body, closed


@pytest.mark.parametrize("name", sorted(AMBIGUOUS))
def test_ambiguous_framing_is_refused_and_closed(service, name):
    status, headers, body, closed = exchange(service.port, AMBIGUOUS[name])
    assert status == 400, (name, status, body)
    assert b'"errcode":"M_UNKNOWN"' in body, (name, body)
    assert headers.get("connection", "").lower() == "close", (name, headers)
    assert closed, name


def read_all(port, data):
    """Sends data and reads until the server closes (or 4 s of silence)."""
    with socket.create_connection(("127.0.0.1", port), timeout=4) as s:
        s.sendall(data)
        buf = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
        except (socket.timeout, ConnectionResetError):
            pass
    return buf


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_header_is_refused_and_closed(service, name):
    status, headers, body, closed = exchange(service.port, MALFORMED[name])
    assert status == 400, (name, status, body)
    assert b'"errcode":"M_UNKNOWN"' in body and b"framing" in body, (name, body)
    assert headers.get("connection", "").lower() == "close", (name, headers)
    assert closed, name


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_bytes_after_the_body_are_no_second_request(service, name):
    buf = read_all(service.port, MALFORMED[name])
    assert buf.count(b"HTTP/1.1 ") == 1, (name, buf)
    assert b"M_MISSING_PARAMS" not in buf, (name, buf)


def test_plain_framings_still_work(service):
    # One chunked body, or one Content-Length: read as usual (the handler sees {}).
    for data in (REGISTER + b"Transfer-Encoding: chunked\r\n\r\n" + CHUNKED_BODY,
                 REGISTER + b"Transfer-Encoding: Chunked\r\n\r\n" + CHUNKED_BODY,
                 REGISTER + b"Content-Length: 2\r\n\r\n{}"):
        status, headers, body, _ = exchange(service.port, data, wait_close=False)
        assert status == 400 and b"M_MISSING_PARAMS" in body, body
    # A tab inside a value and tokens with every tchar are fine.
    status, _, body, _ = exchange(service.port, b"GET /_matrix/identity/v2 HTTP/1.1\r\nHost: x\r\n"
                                  b"X-A: b\tc\r\n!#$%&'*+-.^_`|~09az: v\r\n"
                                  b"Connection: close\r\n\r\n")
    assert status == 200 and body == b"{}"
