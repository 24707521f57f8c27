"""it.serve.shutdown: SIGTERM and SIGINT stop the service cleanly; a request in flight
finishes first, new connections are refused."""
import signal
import socket
import time

import pytest
import requests

import harness


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_in_flight_request_finishes(cluster, sig):
    svc = harness.Service(cluster).start()
    s = socket.create_connection(("127.0.0.1", svc.port))
    s.settimeout(10)
    # Headers only; "100 Continue" proves the service has taken the request in.
    s.sendall(b"POST /_matrix/identity/v2/account/register HTTP/1.1\r\nHost: x\r\n"
              b"Content-Type: application/json\r\n"
              b"Expect: 100-continue\r\nContent-Length: 10\r\n\r\n")
    assert s.recv(4096).startswith(b"HTTP/1.1 100")
    s.sendall(b"{\"a\":")
    svc.proc.send_signal(sig)
    time.sleep(0.3)
    assert svc.proc.poll() is None, "stopped with a request in flight"
    with pytest.raises(requests.ConnectionError):
        requests.get(svc.url("/_matrix/identity/v2"), timeout=2)
    s.sendall(b" 1}    ")
    reply = s.recv(4096)
    s.close()
    assert reply.startswith(b"HTTP/1.1 400") and b"M_MISSING_PARAMS" in reply, reply
    assert svc.stop(timeout=10) == 0
    assert "stopped" in svc.read_log()


def test_stop_when_idle(cluster):
    svc = harness.Service(cluster).start()
    requests.get(svc.url("/_matrix/identity/v2"))
    t0 = time.monotonic()
    assert svc.stop() == 0
    assert time.monotonic() - t0 < 5
