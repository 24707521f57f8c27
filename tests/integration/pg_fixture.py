"""Starts (start STATE) or stops (stop STATE) the private PostgreSQL shared by
the integration tests. STATE is a JSON file the tests read through
ANNUAIRE_IT_PG. Exits 77 (skip) when PostgreSQL is not installed, unless
ANNUAIRE_TEST_REQUIRE_SERVICES=1. The cluster listens on a unix socket in its own
directory only; "port" in STATE is the number in the socket's name."""
import json
import os
import sys

import harness


def main():
    cmd, state = sys.argv[1], sys.argv[2]
    if cmd == "start":
        if not os.path.exists(os.path.join(harness.PGBIN, "initdb")):
            print("PostgreSQL 15 server is not installed", file=sys.stderr)
            sys.exit(1 if os.environ.get("ANNUAIRE_TEST_REQUIRE_SERVICES") == "1" else 77)
        cluster = harness.Cluster.create()
        with open(state, "w") as f:
            json.dump({"root": cluster.root, "port": cluster.port}, f)
        print(f"PostgreSQL on a unix socket in {cluster.sockdir}")
    elif cmd == "stop":
        if not os.path.exists(state):
            return
        with open(state) as f:
            st = json.load(f)
        harness.Cluster(st["root"]).destroy()
        os.unlink(state)
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
