"""bench/soak.sh's helpers, one subcommand each (Debian's python3 and python3-aiosmtpd only).

  soak.py data N PEPPER DIR        the request pools of bench/soak.lua (DIR/soak_data.lua)
  soak.py routing FILE             the routing file the soak's service runs with
  soak.py sink PORT HTTP_PORT STATUS PARENT_PID
                                   the SMTP server that counts the mails (STATUS: JSON,
                                   rewritten every half second); every tenth verification
                                   mail's token is submitted back (POST v1 submitToken)
  soak.py capacity RESULTS MAILS SECONDS
                                   from a full-throttle run of SECONDS that had MAILS
                                   delivered while it lasted: its 2xx answers per second,
                                   and the rate at which those mails would keep up
  soak.py report RESULTS SAMPLES STATUS N_ERROR N_WARN SERVE_ALIVE
                                   the figures over time and the PASS/FAIL verdict (exit 1
                                   on FAIL); N_ERROR, N_WARN: lines of serve's log

Latencies come from bench/soak.lua as log-scale histograms (buckets of 2.5%); a percentile
printed here is the middle of its bucket.
"""
import base64
import collections
import hashlib
import json
import math
import os
import queue
import random
import sys
import threading
import time

BUCKETS_PER_E = 40  # as in bench/soak.lua: bucket = floor(ln(us) * 40)
KINDS = ("lookup", "info", "validation")
# The routing file: 40 ministries (the lookups' bound addresses are theirs), the domain of
# the validations (no invitation needed, so the enrollment gate lets its mails out) and a
# catch-all for externals.
MINISTRIES = 40
SOAK_DOMAIN = "soak.gouv.fr"


def lookup_hash(address, pepper):
    d = hashlib.sha256(f"{address} email {pepper}".encode()).digest()
    return base64.urlsafe_b64encode(d).decode().rstrip("=")


def bound_address(i):
    """The i-th association bench/soak.sh loads (as bench/lookup.sh does)."""
    return f"agent{i}@ministere{i % MINISTRIES}.gouv.fr"


def lua_string(s):
    assert "]==]" not in s
    return "[==[" + s + "]==]"


def cmd_data(n, pepper, directory):
    """256 lookup bodies (20 to 100 hashes, half of them bound) and 256 /info addresses
    (half bound agents, half externals), each with what its answer must hold."""
    rnd = random.Random(n)
    out = ["return {", " lookups = {"]
    for b in range(256):
        size = rnd.randint(20, 100)
        bound = [bound_address(i) for i in rnd.sample(range(1, n + 1), size // 2)]
        unknown = [f"nobody{b}.{j}@example.org" for j in range(size - len(bound))]
        hashes = [lookup_hash(a, pepper) for a in bound + unknown]
        rnd.shuffle(hashes)
        body = json.dumps({"algorithm": "sha256", "pepper": pepper, "addresses": hashes},
                          separators=(",", ":"))
        out.append(f"  {{ body = {lua_string(body)}, found = {len(bound)} }},")
    out += [" },", " infos = {"]
    for b in range(256):
        if b % 2 == 0:
            i = rnd.randint(1, n)
            address, hs = bound_address(i), f"agent.m{i % MINISTRIES}.example"
        else:
            address, hs = f"someone{b}@example.org", "agent.externe.example"
        path = ("/_matrix/identity/api/v1/info?medium=email&address="
                + address.replace("@", "%40"))
        out.append(f"  {{ path = {lua_string(path)}, hs = {lua_string(hs)} }},")
    out += [" },", "}"]
    with open(os.path.join(directory, "soak_data.lua"), "w") as f:
        f.write("\n".join(out) + "\n")


def cmd_routing(path):
    with open(path, "w") as f:
        f.write("platforms:\n  - &ext {hs: agent.externe.example, requires_invite: true}\n"
                "  - &soak {hs: agent.soak.example}\n"
                "medium:\n  email:\n    entries: {}\n    patterns:\n")
        f.write(f"      - '.*@{SOAK_DOMAIN.replace('.', chr(92) + '.')}': *soak\n")
        for i in range(MINISTRIES):
            f.write(f"      - '.*@(.*\\.|)ministere{i}\\.gouv\\.fr': {{hs: agent.m{i}.example}}\n")
        f.write("      - '.*': *ext\n")


class Sink:
    """Counts the mails per phase (the local part's first word: soak.lua's phase) and per
    address; hands every tenth verification mail to the submitter."""

    def __init__(self, http_port):
        self.lock = threading.Lock()
        self.per_address = collections.Counter()
        self.phases = collections.Counter()
        self.foreign = 0  # mails to an address the soak did not ask for
        self.submit_ok = 0
        self.submit_failed = 0
        self.submit_errors = []
        self.received = 0
        self.http_port = http_port
        self.todo = queue.Queue()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.received += 1
            nth = self.received
            for rcpt in envelope.rcpt_tos:
                local, _, domain = rcpt.partition("@")
                if domain != SOAK_DOMAIN:
                    self.foreign += 1
                    continue
                self.per_address[rcpt] += 1
                self.phases[local.split("-", 1)[0]] += 1
        if nth % 10 == 0:
            self.todo.put(envelope.original_content)
        return "250 OK"

    def submitter(self):
        import email
        import email.policy
        import http.client
        import re
        from urllib.parse import parse_qs, urlparse
        conn = None
        while True:
            raw = self.todo.get()
            error = None
            try:
                msg = email.message_from_bytes(raw, policy=email.policy.default)
                text = msg.get_body(("plain",)).get_content()
                q = parse_qs(urlparse(re.search(r"https?://\S+submitToken\S+", text).group(0)).query)
                body = json.dumps({"sid": q["sid"][0], "client_secret": q["client_secret"][0],
                                   "token": q["token"][0]})
                for attempt in range(2):  # once more on a fresh connection if the old one closed
                    try:
                        if conn is None:
                            conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=30)
                        conn.request("POST", "/_matrix/identity/api/v1/validate/email/submitToken",
                                     body, {"Content-Type": "application/json"})
                        r = conn.getresponse()
                        answer = r.read()
                        break
                    except (http.client.HTTPException, OSError):
                        conn = None
                        if attempt == 1:
                            raise
                if r.status != 200 or json.loads(answer) != {"success": True}:
                    error = f"{r.status} {answer[:200]!r}"
            except Exception as e:  # counted and reported: the soak fails on it
                error = repr(e)[:200]
            with self.lock:
                if error is None:
                    self.submit_ok += 1
                else:
                    self.submit_failed += 1
                    if len(self.submit_errors) < 5:
                        self.submit_errors.append(error)

    def status(self):
        with self.lock:
            return {"received": self.received, "phases": dict(self.phases),
                    "addresses": len(self.per_address),
                    "duplicates": sum(c - 1 for c in self.per_address.values() if c > 1),
                    "foreign": self.foreign, "submit_ok": self.submit_ok,
                    "submit_failed": self.submit_failed, "submit_pending": self.todo.qsize(),
                    "submit_errors": list(self.submit_errors)}


def cmd_sink(port, http_port, status_path, parent):
    from aiosmtpd.controller import Controller
    sink = Sink(http_port)
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    threading.Thread(target=sink.submitter, daemon=True).start()
    tmp = status_path + ".tmp"
    try:
        while True:
            with open(tmp, "w") as f:
                json.dump(sink.status(), f)
            os.replace(tmp, status_path)
            if os.getppid() != parent:  # bench/soak.sh is gone
                break
            time.sleep(0.5)
    finally:
        controller.stop()


def read_results(path):
    """bench/soak.lua's output: PATH (wrk's own counts, one line per connection) and
    PATH.<id> (each connection's figures), one "tag field..." line per fact."""
    r = {"count": collections.Counter(), "hist": collections.defaultdict(collections.Counter),
         "open": collections.defaultdict(collections.Counter), "late": collections.Counter(),
         "lost": collections.Counter(), "wrong": collections.Counter(),
         "errors": {}, "duration_us": 0, "bucket_s": 60, "statuses": collections.Counter(),
         "errb": collections.Counter(), "unfinished": [], "missed": 0}
    files = [path]
    with open(path) as f:
        for line in f:
            w = line.split()
            if w and w[0] == "thread":  # thread ID SENT ANSWERED DUMPED
                if w[4] == "1":
                    files.append(f"{path}.{w[1]}")
                else:  # it never reached its last slot: what it sent and had no answer for
                    r["unfinished"].append(int(w[1]))
                    r["lost"]["unfinished connections"] += int(w[2]) - int(w[3])
    for name in files:
        with open(name) as f:
            for line in f:
                read_line(r, line.split())
    return r


def read_line(r, w):
    if not w:
        return
    if w[0] == "count":  # count KIND STATUS N
        r["statuses"][(w[1], int(w[2]))] += int(w[3])
        r["count"][w[1]] += int(w[3])
    elif w[0] == "hist":  # hist BUCKET KIND B N: from the send
        r["hist"][(int(w[1]), w[2])][int(w[3])] += int(w[4])
    elif w[0] == "open":  # open KIND B N: from the slot the schedule gave
        r["open"][w[1]][int(w[2])] += int(w[3])
    elif w[0] == "late":  # late B N: send time minus slot
        r["late"][int(w[1])] += int(w[2])
    elif w[0] == "lost":
        r["lost"][w[1]] += int(w[2])
    elif w[0] == "wrong":
        r["wrong"][w[1]] += int(w[2])
    elif w[0] == "errb":  # errb BUCKET N: non-2xx or wrong answers
        r["errb"][int(w[1])] += int(w[2])
    elif w[0] == "missed":  # slots of the schedule left unused (behind schedule at the end)
        r["missed"] += int(w[1])
    elif w[0] == "errors":  # errors connect read write timeout
        r["errors"] = dict(zip(("connect", "read", "write", "timeout"), map(int, w[1:5])))
    elif w[0] == "duration_us":
        r["duration_us"] = int(w[1])
    elif w[0] == "bucket_s":
        r["bucket_s"] = int(w[1])


def percentile(hist, p):
    """The p-th percentile (ms) of a histogram of log buckets, or None when empty."""
    total = sum(hist.values())
    if total == 0:
        return None
    rank = max(1, math.ceil(total * p / 100))
    seen = 0
    for b in sorted(hist):
        seen += hist[b]
        if seen >= rank:
            return math.exp((b + 0.5) / BUCKETS_PER_E) / 1000
    return None


def fmt_ms(v):
    return "-" if v is None else (f"{v:.2f}" if v < 10 else f"{v:.1f}")


def cmd_capacity(path, delivered, wall):
    """Prints the mix's capacity in requests/s: the 2xx answers per second of the run, or,
    if its mails were delivered slower than its validations asked for them, the rate at
    which the mix's mails keep up with their delivery."""
    r = read_results(path)
    secs = r["duration_us"] / 1e6
    ok = sum(n for (kind, status), n in r["statuses"].items() if 200 <= status < 300)
    http = ok / secs if secs else 0
    asked = r["statuses"].get(("validation", 200), 0)
    mails = int(delivered) / float(wall)  # delivered while the run lasted
    mix = ", ".join(f"{k} {r['count'][k] / secs:.0f}/s p50 {fmt_ms(percentile(total_hist(r, k), 50))} ms"
                    for k in KINDS)
    print(f"capacity, HTTP: {http:.0f} req/s answered 2xx over {secs:.1f} s ({mix}); "
          f"non-2xx {sum(r['count'].values()) - ok}", file=sys.stderr)
    rate = http
    if int(delivered) < asked and ok:  # mails still waiting when the run ended: the sender was the limit
        rate = min(http, mails * ok / asked)
        print(f"capacity, mail: {asked / secs:.0f} mails/s asked, {mails:.0f}/s delivered "
              f"({int(delivered)} of {asked} by the end of the run): the mix keeps up with its "
              f"mails up to {rate:.0f} req/s", file=sys.stderr)
    else:
        print(f"capacity, mail: all {asked} mails delivered by the end of the run", file=sys.stderr)
    print(f"{http:.0f} {min(rate, http):.0f}")


def total_hist(r, kind):
    h = collections.Counter()
    for (_, k), bh in r["hist"].items():
        if k == kind:
            h.update(bh)
    return h


def read_samples(path):
    rows = []
    with open(path) as f:
        for line in f:
            w = line.split()
            if len(w) == 5 and all(x.lstrip("-").isdigit() for x in w):
                rows.append(tuple(int(x) for x in w))  # t rss_kb conns outbox_pending phase
    return rows


def cmd_report(results, samples, status_path, n_error, n_warn, serve_alive):
    r = read_results(results)
    secs = r["duration_us"] / 1e6
    with open(status_path) as f:
        sink = json.load(f)
    rows = read_samples(samples)
    soak_rows = [x for x in rows if x[4] == 1]
    after = [x for x in rows if x[4] == 2]
    fails = []

    print(f"\nper {r['bucket_s']} s of the soak: requests, p50 / p99 latency in ms (from the send), "
          "non-2xx")
    head = f"{'t (s)':>7} " + " ".join(f"{k + ' n':>13} {'p50':>6} {'p99':>6}" for k in KINDS) + f" {'errors':>6}"
    print(head)
    buckets = sorted({b for b, _ in r["hist"]})
    for b in buckets:
        cells = []
        for k in KINDS:
            h = r["hist"].get((b, k), collections.Counter())
            cells.append(f"{sum(h.values()):>13} {fmt_ms(percentile(h, 50)):>6} {fmt_ms(percentile(h, 99)):>6}")
        print(f"{b * r['bucket_s']:>7} " + " ".join(cells) + f" {r['errb'][b]:>6}")
    print("\nwhole soak:")
    total = sum(r["count"].values())
    for k in KINDS:
        h = total_hist(r, k)
        print(f"  {k:<10} {r['count'][k]:>9} requests ({r['count'][k] / secs if secs else 0:7.1f}/s), "
              f"p50 {fmt_ms(percentile(h, 50))} ms, p99 {fmt_ms(percentile(h, 99))} ms, "
              f"max {fmt_ms(percentile(h, 100))} ms; from the schedule's slot (open loop): "
              f"p99 {fmt_ms(percentile(r['open'][k], 99))} ms")
    late = r["late"]
    scheduled = total + sum(r["lost"].values()) + r["missed"]
    print(f"  {total} requests answered in {secs:.1f} s = {total / secs if secs else 0:.1f}/s; "
          f"sends behind their slot: p99 {fmt_ms(percentile(late, 99))} ms, "
          f"max {fmt_ms(percentile(late, 100))} ms; slots left unused (a connection more than "
          f"1 s behind at the end): {r['missed']}")
    if r["missed"] > scheduled / 100:
        fails.append(f"the rate was not held ({r['missed']} of {scheduled} slots unused)")
    cpu = os.environ.get("SOAK_CPU", "").split()
    if len(cpu) == 5 and float(cpu[4]) > 0:
        serve, pg, smtp, wrk, wall = map(float, cpu)
        print(f"CPU over the soak, % of one core (this machine has {os.cpu_count()}): serve "
              f"{100 * serve / wall:.0f}%, PostgreSQL {100 * pg / wall:.0f}%, wrk "
              f"{100 * wrk / wall:.0f}%, SMTP server and token submitter {100 * smtp / wall:.0f}%")

    bad = {f"{k} {s}": n for (k, s), n in sorted(r["statuses"].items()) if not 200 <= s < 300}
    sock = {k: v for k, v in r["errors"].items() if v}
    lost = {k: v for k, v in r["lost"].items() if v}
    wrong = {k: v for k, v in r["wrong"].items() if v}
    n_err = sum(bad.values()) + sum(sock.values()) + sum(lost.values()) + sum(wrong.values())
    print(f"errors: {n_err} (non-2xx {bad or 0}; socket {sock or 0}; sent without an answer "
          f"{lost or 0}; wrong answers {wrong or 0})")
    if n_err:
        fails.append(f"{n_err} errors")
    if total == 0:
        fails.append("no request answered")

    if soak_rows:
        rss0, rss1 = soak_rows[0][1], soak_rows[-1][1]
        ratio = rss1 / rss0 if rss0 else 0
        print(f"serve RSS: {rss0 / 1024:.1f} MB at the start of the soak, {rss1 / 1024:.1f} MB at "
              f"its end (x{ratio:.3f}; max {max(x[1] for x in soak_rows) / 1024:.1f} MB); "
              f"{rows[0][1] / 1024:.1f} MB before any load")
        conns = [x[2] for x in soak_rows]
        print(f"database connections (pg_stat_activity, client backends of the annuaire "
              f"database, every sample): first {conns[0]}, last {conns[-1]}, min {min(conns)}, "
              f"max {max(conns)}; {len(conns)} samples")
        backlog = [x[3] for x in soak_rows]
        print(f"mail outbox not yet sent: max {max(backlog)}, last {backlog[-1]} during the soak; "
              f"{after[-1][3] if after else '?'} after the drain")
        if os.environ.get("SOAK_CHECK_RSS", "1") == "1":
            if ratio >= 1.10:
                fails.append(f"RSS grew x{ratio:.3f} (limit x1.10)")
        else:
            print("  (RSS growth reported, not checked: SOAK_CHECK_RSS=0)")
        if conns[-1] > conns[0]:
            fails.append(f"database connections grew from {conns[0]} to {conns[-1]}")
    else:
        fails.append("no sample of serve taken")

    asked = r["statuses"].get(("validation", 200), 0)
    got = sink["phases"].get("soak", 0)
    print(f"mails: {asked} requested (requestToken answered 200), {got} received by the SMTP "
          f"server for them, {sink['duplicates']} duplicates, {sink['foreign']} to other "
          f"addresses; tokens submitted back from every tenth mail: {sink['submit_ok']} ok, "
          f"{sink['submit_failed']} failed {sink['submit_errors'] or ''}")
    if got != asked:
        fails.append(f"mails received {got} != requested {asked}")
    if sink["duplicates"] or sink["foreign"]:
        fails.append("a mail sent twice or to an address nobody asked for")
    if sink["submit_failed"]:
        fails.append(f"{sink['submit_failed']} submitToken failures")

    print(f"serve log: {n_error} ERROR, {n_warn} WARN lines; "
          f"serve {'still running' if serve_alive == '1' else 'NOT RUNNING'} at the end of the traffic")
    if serve_alive != "1":
        fails.append("serve died")
    if int(n_error):
        fails.append(f"{n_error} ERROR lines in serve's log")

    if fails:
        print("FAIL: " + "; ".join(fails))
        return 1
    print(f"PASS: {total} requests, 0 errors, {asked} mails requested and received, "
          f"database connections steady"
          + (f", RSS x{ratio:.3f}" if soak_rows else ""))
    return 0


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "data":
        cmd_data(int(args[0]), args[1], args[2])
    elif cmd == "routing":
        cmd_routing(args[0])
    elif cmd == "sink":
        cmd_sink(int(args[0]), int(args[1]), args[2], int(args[3]))
    elif cmd == "capacity":
        cmd_capacity(*args)
    elif cmd == "report":
        sys.exit(cmd_report(*args))
    else:
        sys.exit(f"soak.py: unknown command {cmd}")


if __name__ == "__main__":
    main()
