"""it.sync.lock: one `sync` of a source at a time, whichever machine starts it (a
PostgreSQL advisory lock per source). A run of source a blocks mid-read on an LDIF
export that is a FIFO the test holds open: a second run of a says another run is in
progress and exits 5 without touching anything, a run of every source runs b and exits
5 (3 when b had rejected entries: busy is the mildest outcome), a run of b alone runs; --retire takes the same lock; once the first run ends, a runs
again; busy runs are counted (annuaire_sync_busy_total) and the message says how long
the holder has held the lock. A killed run's lock goes with its session; two names
whose 32-bit hashes meet do not block each other."""
import errno
import os
import shutil
import re
import signal
import subprocess

import requests

import harness
from test_sync_ldif import IMMEDIATE, entry, source


def people(prefix, n):
    return "".join(entry(f"{prefix}{i}", f"u-{prefix}{i}", [f"{prefix}{i}@gouv.fr"]) for i in range(n))


def open_writer(fifo, proc):
    """The FIFO's write end, once proc has opened it for reading (it then holds the lock)."""
    fd = None

    def opened():
        nonlocal fd
        assert proc.poll() is None, proc.communicate()
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as e:
            if e.errno != errno.ENXIO:
                raise
            return False
        return True

    harness.wait_until(opened, timeout=30)
    os.set_blocking(fd, True)
    return fd


def test_concurrent_runs(cluster, tmp_path):
    fifo = tmp_path / "a.ldif"
    b = tmp_path / "b.ldif"
    b.write_text(people("b", 3))
    (tmp_path / "a-first.ldif").write_text(people("a", 3))
    config = "sync:\n" + IMMEDIATE + "  sources:\n" + source("a", fifo, 10) + source("b", b, 20)
    svc = harness.Service(cluster, config=config)
    shutil.copy(tmp_path / "a-first.ldif", fifo)
    r = svc.run("sync")
    assert r.returncode == 0, r.stdout + r.stderr
    os.unlink(fifo)
    os.mkfifo(fifo)

    first = subprocess.Popen([harness.BIN, "sync", "-c", svc.config_path, "--source", "a"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    fd = None
    try:
        fd = open_writer(fifo, first)
        os.write(fd, people("a", 2).encode())  # a0 and a1 so far: the run is mid-read

        r = svc.run("sync", "--source", "a")
        assert r.returncode == 5, r.stdout + r.stderr
        assert "source a: another run is in progress (since " in r.stderr, r.stderr
        assert re.search(r", held for \d+h\d\dm\d\ds, backend pid \d+, client ", r.stderr), r.stderr
        assert r.stdout == ""
        r = svc.run("sync")
        assert r.returncode == 5, r.stdout + r.stderr
        assert "b: success (full) added=0 changed=0 removed=0 unchanged=3" in r.stdout, r.stdout
        assert "source a: another run is in progress" in r.stderr
        r = svc.run("sync", "--source", "b")
        assert r.returncode == 0, r.stdout + r.stderr
        # A busy source never hides another's problem: b with a rejected entry (exit 3).
        b.write_text(people("b", 3) + "dn: uid=y,dc=x\nobjectClass: inetOrgPerson\nmail: y@gouv.fr\n\n")
        r = svc.run("sync")
        assert r.returncode == 3, r.stdout + r.stderr
        assert "source a: another run is in progress" in r.stderr
        b.write_text(people("b", 3))

        # --retire takes the same lock (a configuration without a).
        other = tmp_path / "without-a.yaml"
        other.write_text(open(svc.config_path).read().replace(source("a", fifo, 10), ""))
        r = subprocess.run([harness.BIN, "sync", "-c", str(other), "--retire", "a", "--dry-run"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 5 and "source a: another run is in progress" in r.stderr, \
            r.stdout + r.stderr
        # Nothing of the waiting runs was recorded for a, but they are counted (/metrics).
        assert svc.cluster.psql("SELECT count(*) FROM annuaire.sync_runs WHERE source = 'a'",
                                db=svc.db).strip() == "1"
        assert svc.cluster.psql("SELECT source || ' ' || runs FROM annuaire.sync_busy",
                                db=svc.db).strip() == "a 4"

        os.write(fd, (entry("a2", "u-a2", ["a2@gouv.fr"]) + entry("a9", "u-a9", ["a9@gouv.fr"])).encode())
        os.close(fd)
        fd = None
        out, err = first.communicate(timeout=60)
        assert first.returncode == 0, out + err
        assert "a: success (full) added=1 changed=0 removed=0 unchanged=3" in out, out + err
    finally:
        if fd is not None:
            os.close(fd)
        if first.poll() is None:
            first.kill()
            first.communicate()
    # The lock went with the run: a runs again (from a regular file now).
    os.unlink(fifo)
    fifo.write_text(people("a", 3))
    r = svc.run("sync", "--source", "a", "--allow-mass-delete")
    assert r.returncode == 0 and "a: success (full)" in r.stdout, r.stdout + r.stderr
    with svc:
        text = requests.get(svc.url("/metrics"), timeout=10).text
    assert 'annuaire_sync_busy_total{source="a"} 4\n' in text, text
    assert 'annuaire_sync_busy_total{source="b"} 0\n' in text, text


def blocked_run(svc, fifo, name):
    """A run of source name blocked mid-read on fifo, and the FIFO's write end."""
    proc = subprocess.Popen([harness.BIN, "sync", "-c", svc.config_path, "--source", name],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    fd = open_writer(fifo, proc)
    os.write(fd, people(name, 1).encode())
    return proc, fd


def test_killed_run_releases_lock(cluster, tmp_path):
    fifo = tmp_path / "a.ldif"
    os.mkfifo(fifo)
    svc = harness.Service(cluster, config="sync:\n" + IMMEDIATE + "  sources:\n" + source("a", fifo, 10))
    first, fd = blocked_run(svc, fifo, "a")
    try:
        r = svc.run("sync", "--source", "a")
        assert r.returncode == 5, r.stdout + r.stderr
        # Killed mid-read: its session (idle in transaction, the lock held) ends with the
        # socket, and the lock with it.
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=60)
    finally:
        os.close(fd)
        if first.poll() is None:
            first.kill()
            first.communicate()
    os.unlink(fifo)
    fifo.write_text(people("a", 2))
    last = None

    def ran():
        nonlocal last
        last = svc.run("sync", "--source", "a")
        assert last.returncode in (0, 5), last.stdout + last.stderr
        return last.returncode == 0
    harness.wait_until(ran, timeout=60)
    assert "a: success (full) added=2" in last.stdout, last.stdout


def test_colliding_hashes(cluster, tmp_path):
    """src8315 and src247618 have the same hashtext: the lock key is a 64-bit hash."""
    assert cluster.psql("SELECT hashtext('src8315') = hashtext('src247618')").strip() == "t"
    fifo, other = tmp_path / "one.ldif", tmp_path / "two.ldif"
    os.mkfifo(fifo)
    other.write_text(people("t", 2))
    svc = harness.Service(cluster, config="sync:\n" + IMMEDIATE + "  sources:\n" +
                          source("src8315", fifo, 10) + source("src247618", other, 20))
    first, fd = blocked_run(svc, fifo, "src8315")
    try:
        r = svc.run("sync", "--source", "src247618")
        assert r.returncode == 0 and "src247618: success (full) added=2" in r.stdout, r.stdout + r.stderr
        r = svc.run("sync", "--source", "src8315")
        assert r.returncode == 5, r.stdout + r.stderr
        os.close(fd)
        fd = None
        out, err = first.communicate(timeout=60)
        assert first.returncode == 0, out + err
    finally:
        if fd is not None:
            os.close(fd)
        if first.poll() is None:
            first.kill()
            first.communicate()
