"""it.sync.lock: one `sync` of a source at a time, whichever machine starts it (a
PostgreSQL advisory lock per source). A run of source a blocks mid-read on an LDIF
export that is a FIFO the test holds open: a second run of a says another run is in
progress and exits 5 without touching anything, a run of every source runs b and exits
5 (3 when b had rejected entries: busy is the mildest outcome), a run of b alone runs; --retire takes the same lock; once the first run ends, a runs
again."""
import errno
import os
import shutil
import subprocess

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
        # Nothing of the waiting runs was recorded for a.
        assert svc.cluster.psql("SELECT count(*) FROM annuaire.sync_runs WHERE source = 'a'",
                                db=svc.db).strip() == "1"

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
