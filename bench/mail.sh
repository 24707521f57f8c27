#!/usr/bin/env bash
# bench/mail.sh: time from the requestToken reply to the verification mail being
# in the SMTP server (a real one, aiosmtpd on loopback), over N requests in turn.
#
#   bench/mail.sh [N=100]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
. bench/lib.sh

n=${1:-100}
ensure_packages python3-aiosmtpd python3-requests
SMTP_PORT=$(reserve_port)
BENCH_CONFIG="ratelimit:
  enabled: false"
bench_start
/usr/bin/python3 - "$n" "$SMTP_PORT" "$port" <<'PY'
import statistics, sys, threading, time
import requests
from aiosmtpd.controller import Controller

n, smtp_port, port = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
arrived = {}
cond = threading.Condition()

class Handler:
    async def handle_DATA(self, server, session, envelope):
        with cond:
            arrived[envelope.rcpt_tos[0]] = time.monotonic()
            cond.notify_all()
        return "250 OK"

sink = Controller(Handler(), hostname="127.0.0.1", port=smtp_port)
sink.start()
url = f"http://127.0.0.1:{port}/_matrix/identity/api/v1/validate/email/requestToken"
lat = []
for i in range(n):
    rcpt = f"agent{i}@bench.gouv.fr"
    r = requests.post(url, json={"client_secret": "bench", "email": rcpt, "send_attempt": 1})
    replied = time.monotonic()
    assert r.status_code == 200, r.text
    with cond:
        cond.wait_for(lambda: rcpt in arrived, timeout=30)
    lat.append(max(0.0, arrived[rcpt] - replied) * 1000)
sink.stop()
lat.sort()
print(f"requestToken reply -> mail in the SMTP server, {n} requests: median {statistics.median(lat):.1f} ms, "
      f"p90 {lat[int(n * 0.9) - 1]:.1f} ms, max {lat[-1]:.1f} ms")
PY
