"""it.sync.contentsync: RFC 4533 refreshOnly against slapd's syncprov: the first run reads
everything and stores the cookie with the data; then add, modify, rename and delete read
as changes only; more deletes than the session log, and a slapd restart, make the server
use the present phase, and the entries it leaves out are removed (and only those)."""
import socket
import threading
import uuid


import harness
import slapd
from slapd import SUFFIX, Slapd
from test_sync_ldap import ldap_source, people, sql

slapd.require()


def delete(server, uids):
    server.modify("".join(f"dn: uid={u},ou=people,{SUFFIX}\nchangetype: delete\n\n" for u in uids))


def test_content_sync(cluster, tmp_path):
    server = Slapd(people(60), sessionlog=5)
    try:
        svc = harness.Service(cluster, config=ldap_source(server.url, tmp_path,
                                                          tls="        content_sync: true\n"))
        r = svc.run("sync")
        assert r.returncode == 0, r.stderr
        assert "agri: success (full) added=60" in r.stdout
        cookie = sql(svc, "SELECT cookie FROM annuaire.sync_sources")
        assert cookie.startswith("rid=") or "csn=" in cookie

        # Nothing changed: an incremental run reads nothing and changes nothing.
        r = svc.run("sync")
        assert "agri: success (incremental) added=0 changed=0 removed=0 unchanged=60" in r.stdout, r.stdout

        server.modify(
            f"dn: uid=new1,ou=people,{SUFFIX}\nchangetype: add\nobjectClass: inetOrgPerson\n"
            "uid: new1\ncn: New\nsn: New\nmail: new1@agri.gouv.fr\n\n"
            f"dn: uid=agent1,ou=people,{SUFFIX}\nchangetype: modify\nreplace: mail\n"
            "mail: agent1.b@agri.gouv.fr\n\n"
            f"dn: uid=agent2,ou=people,{SUFFIX}\nchangetype: modrdn\nnewrdn: uid=agent2b\ndeleteoldrdn: 1\n\n")
        delete(server, ["agent3"])
        r = svc.run("sync")
        assert "agri: success (incremental) added=1 changed=2 removed=1 unchanged=57" in r.stdout, \
            r.stdout + r.stderr
        assert sql(svc, f"SELECT dn FROM annuaire.directory_entries WHERE key = '{uuid.UUID(int=3)}'") == \
            f"uid=agent2b,ou=people,{SUFFIX}"
        assert sql(svc, f"SELECT deleted_at IS NOT NULL FROM annuaire.directory_entries"
                        f" WHERE key = '{uuid.UUID(int=4)}'") == "t"

        # More deletes than the session log holds: the server falls back to the present phase.
        delete(server, [f"agent{i}" for i in range(10, 15)] + ["agent16"])
        r = svc.run("sync", "--allow-mass-delete")
        assert "agri: success (incremental) added=0 changed=0 removed=6 unchanged=54" in r.stdout, \
            r.stdout + r.stderr

        # After a restart the session log is empty: present phase again.
        server.modify(f"dn: uid=agent22,ou=people,{SUFFIX}\nchangetype: modify\nreplace: sn\nsn: Changed\n\n")
        server.stop()
        server.start()
        delete(server, ["agent20"])
        r = svc.run("sync")
        # The changed entry comes as an entry and is listed present too: a change, not a
        # key read twice.
        assert "agri: success (incremental) added=0 changed=1 removed=1 unchanged=52 rejected=0" in r.stdout, \
            r.stdout + r.stderr
        assert sql(svc, f"SELECT surname FROM annuaire.directory_entries WHERE key = '{uuid.UUID(int=23)}'") == \
            "Changed"
        live = sql(svc, "SELECT count(*) FROM annuaire.directory_entries WHERE deleted_at IS NULL")
        assert live == "53"

        # A dry run stores no cookie; --full reads everything again.
        before = sql(svc, "SELECT cookie FROM annuaire.sync_sources")
        delete(server, ["agent21"])
        r = svc.run("sync", "--dry-run")
        assert "(dry-run) added=0 changed=0 removed=1" in r.stdout
        assert sql(svc, "SELECT cookie FROM annuaire.sync_sources") == before
        r = svc.run("sync", "--full")
        assert "agri: success (full) added=0 changed=0 removed=1 unchanged=52" in r.stdout, r.stdout + r.stderr
    finally:
        server.close()


class RefreshRequiredProxy:
    """Forwards LDAP between the service and slapd; while `refuse` is set, answers a
    search that carries a content-sync cookie with e-syncRefreshRequired (4096) itself,
    as a server that cannot go on from that cookie does."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.refuse = False
        self.refuse_all = False  # even a search without a cookie
        self.refused = 0
        self.searches = 0
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.url = f"ldap://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pump, args=(server, client), daemon=True).start()
            threading.Thread(target=self._requests, args=(client, server), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            dst.close()

    @staticmethod
    def _read_message(sock, buf):
        """One BER-framed LDAP message from sock (buf holds what was read ahead)."""
        def need(n):
            while len(buf) < n:
                data = sock.recv(65536)
                if not data:
                    raise EOFError
                buf.extend(data)
        need(2)
        length, header = buf[1], 2
        if length & 0x80:
            n = length & 0x7F
            need(2 + n)
            length, header = int.from_bytes(buf[2:2 + n], "big"), 2 + n
        need(header + length)
        message = bytes(buf[:header + length])
        del buf[:header + length]
        return message, header

    def _requests(self, client, server):
        buf = bytearray()
        try:
            while True:
                message, header = self._read_message(client, buf)
                id_len = message[header + 1]
                message_id = message[header:header + 2 + id_len]  # INTEGER, as sent
                op = message[header + 2 + id_len]
                if op == 0x63:  # SearchRequest
                    self.searches += 1
                    if (self.refuse and b"csn=" in message) or self.refuse_all:
                        self.refused += 1
                        text = b"cookie too old"
                        done = bytes([0x0A, 0x02, 0x10, 0x00, 0x04, 0x00, 0x04, len(text)]) + text
                        body = message_id + bytes([0x65, len(done)]) + done
                        client.sendall(bytes([0x30, len(body)]) + body)
                        continue
                server.sendall(message)
        except (OSError, EOFError):
            server.close()

    def close(self):
        self.listener.close()


def test_refresh_required_reads_everything_again(cluster, tmp_path):
    server = Slapd(people(30))
    proxy = RefreshRequiredProxy(server.port)
    try:
        svc = harness.Service(cluster, config=ldap_source(proxy.url, tmp_path,
                                                          tls="        content_sync: true\n"))
        assert svc.run("sync").returncode == 0
        old_cookie = sql(svc, "SELECT cookie FROM annuaire.sync_sources")
        delete(server, ["agent3"])
        proxy.refuse = True
        r = svc.run("sync")
        assert r.returncode == 0, r.stdout + r.stderr
        assert proxy.refused == 1
        assert "asks for a full refresh; reading everything again" in r.stderr
        # The second read had no cookie: everything came, and what did not is gone.
        assert "agri: success (full) added=0 changed=0 removed=1 unchanged=29" in r.stdout, r.stdout
        assert sql(svc, "SELECT count(*) FROM annuaire.directory_entries WHERE deleted_at IS NULL") == "29"
        assert sql(svc, "SELECT cookie FROM annuaire.sync_sources") != old_cookie
        assert sql(svc, "SELECT count(*) FROM annuaire.sync_runs WHERE status = 'failed'") == "0"
        # A server that asks for a full refresh of a full refresh: one retry, then failed.
        proxy.refuse_all = True
        proxy.refused = 0
        r = svc.run("sync")
        assert r.returncode == 1 and proxy.refused == 2, r.stdout + r.stderr
        assert "failed, nothing changed" in r.stderr
    finally:
        proxy.close()
        server.close()


def test_content_sync_over_tls(cluster, tmp_path):
    """Over TLS many messages arrive in one record: each must still be read as itself."""
    server = Slapd(people(200), tls=True)
    try:
        for url, extra in ((server.url, "        starttls: true\n"), (server.ldaps_url, "")):
            svc = harness.Service(cluster, config=ldap_source(
                url, tmp_path, tls=extra + f"        ca_file: {server.ca_file}\n        content_sync: true\n"))
            r = svc.run("sync")
            assert "agri: success (full) added=200 changed=0 removed=0 unchanged=0 rejected=0" in r.stdout, \
                r.stdout + r.stderr
            assert sql(svc, "SELECT count(DISTINCT key) FROM annuaire.directory_entries") == "200"
            r = svc.run("sync")
            assert "agri: success (incremental) added=0 changed=0 removed=0 unchanged=200" in r.stdout, \
                r.stdout + r.stderr
    finally:
        server.close()
