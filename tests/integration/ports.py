"""Loopback TCP ports for the test servers that cannot bind port 0 and report the
port they got (slapd, annuaire's internal listener, a relay the service is told about
before it runs), without the race of binding a free port, closing it and starting the
server on it (two tests in parallel could be handed the same port in between).

reserve() keeps a socket bound to the port with SO_REUSEADDR, never listening, until
the process exits. Linux then gives that port to no other bind to port 0 (with or
without SO_REUSEADDR) and uses it as the local port of no outgoing connection, while a
server that binds it explicitly with SO_REUSEADDR, as slapd, libmicrohttpd and asyncio
do, can still listen there, stop and listen again. Until one listens, a connection to
the port is refused.

Run as a script (bench/), it prints one reserved port and holds it while process PID
lives:  read -r port < <(python3 tests/integration/ports.py $$)"""
import os
import socket
import sys
import time

_held = []  # the reserving sockets, open until the process exits


def reserve():
    """A port of 127.0.0.1 that nothing else on the machine is handed while this
    process lives; nothing listens there until a server binds it."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    _held.append(s)
    return s.getsockname()[1]


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


if __name__ == "__main__":
    owner = int(sys.argv[1])
    print(reserve(), flush=True)
    sys.stdout.close()
    while _alive(owner):
        time.sleep(1)
