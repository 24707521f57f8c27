#!/usr/bin/env bash
# bench/invites.sh: invitations.
#  1. N store-invite requests (default 10,000) from 50 senders on 5 homeservers, 50 at a
#     time (wrk, one connection per concurrent request), for external addresses (the
#     agents-invite-externals policy and both daily quotas checked on each): the rate at
#     which invitations are stored, then every mail counted in a real SMTP server
#     (aiosmtpd): none lost, none twice. RUNS runs (default 3), medians.
#  2. GET /_annuaire/admin/v1/invitations, a page of 50 among 100,000 invitations (newest
#     first; filtered by state; the page after a cursor): median latency, one client.
#
#   bench/invites.sh            N=10000 RUNS=3 SECONDS_PER_RUN=5 bench/invites.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
. bench/lib.sh

n=${N:-10000}
runs=${RUNS:-3}
seconds=${SECONDS_PER_RUN:-5}
ensure_packages python3-aiosmtpd python3-requests
SMTP_PORT=$(reserve_port)
ADMIN_PORT=$(reserve_port)
routing_file=$(mktemp /tmp/annuaire-bench-info.XXXXXX.yaml)
cat >"$routing_file" <<'YAML'
platforms:
  - &externes {hs: externes.bench.test, requires_invite: true}
medium:
  email:
    patterns:
      - '.*@m1\.gouv\.fr': {hs: hs1.bench.test}
      - '.*@m2\.gouv\.fr': {hs: hs2.bench.test}
      - '.*@m3\.gouv\.fr': {hs: hs3.bench.test}
      - '.*@m4\.gouv\.fr': {hs: hs4.bench.test}
      - '.*@m5\.gouv\.fr': {hs: hs5.bench.test}
      - '.*': *externes
YAML
BENCH_CONFIG="ratelimit:
  enabled: false
routing:
  info_file: $routing_file
  external_servers: [externes.bench.test]
invites:
  daily_per_sender: 100000
  daily_per_homeserver: 1000000
admin:
  port: $ADMIN_PORT"
bench_start
trap 'bench_stop; rm -f "$routing_file"' EXIT
psql_() { scripts/pg-cluster psql "$work/pg" -d annuaire -At "$@"; }
/usr/bin/python3 - "$n" "$runs" "$seconds" "$SMTP_PORT" "$port" "$ADMIN_PORT" "$work" <<'PY'
import hashlib, json, os, re, secrets, signal, statistics, subprocess, sys, threading, time
from aiosmtpd.controller import Controller

n, runs, seconds, smtp_port, port, admin_port = map(int, sys.argv[1:7])
work = sys.argv[7]

def psql(sql):
    return subprocess.run(["scripts/pg-cluster", "psql", f"{work}/pg", "-d", "annuaire", "-At",
                           "-c", sql], check=True, capture_output=True, text=True).stdout.strip()

received = {}
lock = threading.Lock()

class Handler:
    async def handle_DATA(self, server, session, envelope):
        with lock:
            for rcpt in envelope.rcpt_tos:
                received[rcpt] = received.get(rcpt, 0) + 1
        return "250 OK"

sink = Controller(Handler(), hostname="127.0.0.1", port=smtp_port)
sink.start()

# 50 senders, ten on each of 5 homeservers, each with an identity access token.
senders = []
for i in range(50):
    token = secrets.token_urlsafe(32)
    mxid = f"@agent{i}:hs{i % 5 + 1}.bench.test"
    senders.append((token, mxid))
    psql("INSERT INTO annuaire.accounts (token_hash, user_id) VALUES "
         f"('{hashlib.sha256(token.encode()).hexdigest()}', '{mxid}')")
tokfile = os.path.join(work, "senders.txt")
with open(tokfile, "w") as f:
    for token, mxid in senders:
        f.write(f"{token} {mxid}\n")

lua = os.path.join(work, "invite.lua")
with open(lua, "w") as f:
    f.write(r'''
local senders, run, limit, sent, primed = {}, 0, 0, 0, false
function init(args)
  run, limit = tonumber(args[2]), tonumber(args[3])
  for line in io.lines(args[1]) do
    local tok, mxid = line:match("(%S+) (%S+)")
    senders[#senders + 1] = { tok, mxid }
  end
end
function request()
  if not primed then -- wrk builds one request at start that it never sends
    primed = true
    return wrk.format("GET", "/_matrix/identity/v2")
  end
  sent = sent + 1
  if sent > limit then -- past the count: requests that change nothing while wrk stops
    return wrk.format("GET", "/_matrix/identity/v2")
  end
  local s = senders[(sent - 1) % #senders + 1]
  local body = string.format('{"medium":"email","address":"partner%d.%d@partenaire.example",'
    .. '"room_id":"!room%d:%s","sender":"%s","room_name":"Salle %d",'
    .. '"sender_display_name":"Agent %d"}', run, sent, sent % 97, s[2]:match(":(.*)"), s[2],
    sent % 97, sent % 50)
  return wrk.format("POST", "/_matrix/identity/v2/store-invite",
    { ["Authorization"] = "Bearer " .. s[1], ["Content-Type"] = "application/json" }, body)
end
''')

rates, drains = [], []
for run in range(1, runs + 1):
    before = int(psql("SELECT count(*) FROM annuaire.invites"))
    t0 = time.monotonic()
    # wrk sends the store-invites, then fillers; stopped once every store-invite is
    # stored, or when the count stops growing (what is missing is then reported).
    proc = subprocess.Popen(["wrk", "-t1", "-c50", "-d600s", "--timeout", "60s", "-s", lua,
                             f"http://127.0.0.1:{port}", "--", tokfile, str(run), str(n)],
                            stdout=subprocess.PIPE, text=True)
    last, last_change = before, time.monotonic()
    while True:
        time.sleep(0.05)
        now_count = int(psql("SELECT count(*) FROM annuaire.invites"))
        if now_count - before >= n:
            break
        if now_count != last:
            last, last_change = now_count, time.monotonic()
        elif time.monotonic() - last_change > 10:
            break
    wall = time.monotonic() - t0
    proc.send_signal(signal.SIGINT)  # wrk prints its summary
    out = proc.communicate()[0]
    stored = int(psql("SELECT count(*) FROM annuaire.invites")) - before
    span = float(psql("SELECT extract(epoch FROM max(created_at) - min(created_at))"
                      f" FROM annuaire.invites WHERE address LIKE 'partner{run}.%'"))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    rate = stored / span  # first to last insert, as PostgreSQL timed them
    rates.append(rate)
    # Every mail of the run, once.
    want = {f"partner{run}.{i}@partenaire.example" for i in range(1, n + 1)}
    t1 = time.monotonic()
    if stored != n:  # then the stored ones: each must be mailed once
        have = set(psql("SELECT address FROM annuaire.invites"
                        f" WHERE address LIKE 'partner{run}.%'").split())
        print(f"  not stored: {sorted(want - have)[:10]}")
        want = have
    while time.monotonic() - t1 < 600:
        with lock:
            got = sum(1 for a in want if a in received)
        if got == len(want):
            break
        time.sleep(0.2)
    drain = time.monotonic() - t0
    drains.append(drain)
    with lock:
        missing = sum(1 for a in want if a not in received)
        twice = sum(1 for a in want if received.get(a, 0) > 1)
    print(f"run {run}: {stored} of {n} invitations stored, {rate:.0f}/s (wall {wall:.2f} s)"
          f" (first to last insert {span:.2f} s), non-2xx {non2xx.group(1) if non2xx else 0}"
          f"{', socket errors ' + errors.group(1) if errors else ''};"
          f" all mailed after {drain:.1f} s: missing {missing}, twice {twice}", flush=True)
    with open(os.path.join(work, "serve.log")) as log:
        for line in log:
            if " WARN " in line or " ERROR " in line:
                print("  serve:", line.rstrip())
    assert stored == n and missing == 0 and twice == 0
print(f"store-invite, {n} requests, 50 senders on 5 homeservers, 50 concurrent:"
      f" median {statistics.median(rates):.0f} invitations/s stored;"
      f" median {statistics.median(drains):.1f} s until the last mail was in the SMTP server")
sink.stop()

# 2. The admin list among 100,000 invitations.
have = int(psql("SELECT count(*) FROM annuaire.invites"))
if have < 100000:
    psql("INSERT INTO annuaire.invites (token, medium, address, kind, state, verified_by,"
         " expires_at, inviter, created_by, lang)"
         " SELECT 'bench-vip-' || g, 'email', 'vip' || g || '@partenaire.example', 'vip',"
         " (ARRAY['pending', 'used', 'expired', 'revoked'])[g % 4 + 1], 'admin',"
         " now() + interval '30 days', 'Bench', 'bench', 'fr'"
         f" FROM generate_series(1, {100000 - have}) AS g")
psql("ANALYZE annuaire.invites")
token = secrets.token_urlsafe(32)
psql("INSERT INTO annuaire.admin_tokens (name, token_hash, scopes) VALUES"
     f" ('bench', '{hashlib.sha256(token.encode()).hexdigest()}', ARRAY['invitations'])")
import urllib.request
def get(path):
    req = urllib.request.Request(f"http://127.0.0.1:{admin_port}{path}",
                                 headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req) as r:
        return json.load(r)
first = get("/_annuaire/admin/v1/invitations?limit=50")
assert len(first["invitations"]) == 50 and first.get("next"), first
cases = [("newest 50", "/_annuaire/admin/v1/invitations?limit=50"),
         ("state=pending, 50", "/_annuaire/admin/v1/invitations?state=pending&limit=50"),
         ("the page after a cursor", "/_annuaire/admin/v1/invitations?limit=50&from=" + first["next"])]
hdr = os.path.join(work, "auth.lua")
with open(hdr, "w") as f:
    f.write(f'wrk.headers["Authorization"] = "Bearer {token}"\n')
print(f"admin list among {int(psql('SELECT count(*) FROM annuaire.invites'))} invitations, one client:")
for name, path in cases:
    p50s = []
    for _ in range(runs):
        out = subprocess.run(["wrk", "-t1", "-c1", f"-d{seconds}s", "--latency", "-s", hdr,
                              f"http://127.0.0.1:{admin_port}{path}"],
                             check=True, capture_output=True, text=True).stdout
        m = re.search(r"^\s+50%\s+([\d.]+)(us|ms|s)$", out, re.M)
        v = float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
        assert "Non-2xx" not in out, out
        p50s.append(v)
    print(f"  {name}: runs {', '.join(f'{v:.2f}' for v in p50s)} ms, median {statistics.median(p50s):.2f} ms")
PY
