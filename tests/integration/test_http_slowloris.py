"""it.http.slowloris: one client cannot hold every connection slot. Connections from
one address are capped (http.max_connections_per_ip), so another client is still
served; and a request whose head or body trickles in is cut at http.request_timeout,
though bytes keep coming (MHD's own timeout restarts with every byte)."""
import select
import socket
import threading
import time

import pytest
import requests

import harness

SLOTS = 24
PER_IP = 8


def slow_config(request_timeout):
    return (f"  connection_limit: {SLOTS}\n"
            f"  max_connections_per_ip: {PER_IP}\n"
            "  connection_timeout: 120\n"
            f"  request_timeout: {request_timeout}\n")


@pytest.fixture
def make_service(cluster):
    started = []

    def make(request_timeout):
        svc = harness.Service(cluster, http_extra=slow_config(request_timeout))
        started.append(svc)
        return svc.__enter__()

    yield make
    for svc in started:
        svc.__exit__(None, None, None)


def closed_by_peer(s):
    """Whether the server closed s (EOF or reset), without blocking."""
    if not select.select([s], [], [], 0)[0]:
        return False
    try:
        return s.recv(4096) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True


def trickle(s, data):
    """Sends one byte of data; False once the server has closed the connection."""
    try:
        s.send(data)
    except (ConnectionResetError, BrokenPipeError):
        return False
    return not closed_by_peer(s)


def test_one_address_cannot_take_every_slot(make_service):
    svc = make_service(request_timeout=600)  # only the per-address cap is at work here
    conns = []
    stop = threading.Event()
    try:
        for _ in range(SLOTS + 6):  # more than every slot of the instance
            s = socket.create_connection(("127.0.0.1", svc.port), timeout=5)
            s.sendall(b"GET /_matrix/identity/v2 HTTP/1.1\r\nHost: is.test\r\n")
            conns.append(s)

        def keep_trickling():
            while not stop.is_set():
                for s in conns:
                    try:
                        s.send(b"X")
                    except OSError:
                        pass
                stop.wait(0.5)

        t = threading.Thread(target=keep_trickling, daemon=True)
        t.start()
        # Beyond the cap, connections from that address are closed at once.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            alive = [s for s in conns if not closed_by_peer(s)]
            if len(alive) <= PER_IP:
                break
            time.sleep(0.1)
        assert len(alive) <= PER_IP, len(alive)

        # Another client (another loopback address) is served while the first trickles.
        other = requests.Session()
        other.mount("http://", SourceAddressAdapter("127.0.0.2"))
        for _ in range(5):
            r = other.get(svc.url("/_matrix/identity/v2"), timeout=10)
            assert r.status_code == 200 and r.json() == {}
    finally:
        stop.set()
        for s in conns:
            s.close()


@pytest.mark.parametrize("part", ["head", "body"])
def test_trickled_request_is_cut_at_its_deadline(make_service, part):
    svc = make_service(request_timeout=2)
    s = socket.create_connection(("127.0.0.1", svc.port), timeout=5)
    try:
        if part == "head":
            s.sendall(b"GET /_matrix/identity/v2 HTTP/1.1\r\nHost: is.test\r\nX-Slow: ")
        else:
            s.sendall(b"POST /_matrix/identity/v2/account/register HTTP/1.1\r\nHost: is.test\r\n"
                      b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
        # One byte every 0.2 s: far more often than connection_timeout (120 s), so only the
        # request deadline can end this; bounded at 30 s.
        cut = False
        for _ in range(150):
            if not trickle(s, b"a" if part == "head" else b" "):
                cut = True
                break
            time.sleep(0.2)
        assert cut, f"a trickled request {part} was still open after 30 s"
    finally:
        s.close()
    # The service itself is fine.
    assert requests.get(svc.url("/_matrix/identity/v2"), timeout=10).status_code == 200


class SourceAddressAdapter(requests.adapters.HTTPAdapter):
    """Connects from a given local address (the whole of 127/8 is loopback on Linux)."""

    def __init__(self, source, **kw):
        self.source = (source, 0)
        super().__init__(**kw)

    def init_poolmanager(self, *args, **kw):
        kw["source_address"] = self.source
        super().init_poolmanager(*args, **kw)
