"""A private OpenLDAP server for the tests: its own cn=config and mdb database in a
temporary directory, syncprov with a small session log, fixtures loaded offline with
slapadd -q, listening on 127.0.0.1 only, on ports reserved for the test process
(ports.py: slapd cannot report a port it picked, and the sync takes ldap:// and
ldaps:// URLs only, not ldapi://)."""
import os
import shutil
import signal
import subprocess
import tempfile
import time

import ports

SLAPD = "/usr/sbin/slapd"
SLAPADD = "/usr/sbin/slapadd"
SUFFIX = "dc=example,dc=gouv,dc=fr"
ADMIN = f"cn=admin,{SUFFIX}"
PASSWORD = "secret"

CONFIG = """dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {dir}/run/slapd.pid
olcArgsFile: {dir}/run/slapd.args
olcLogLevel: none
{tls}
dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb
olcModuleLoad: syncprov

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif
include: file:///etc/ldap/schema/cosine.ldif
include: file:///etc/ldap/schema/nis.ldif
include: file:///etc/ldap/schema/inetorgperson.ldif
include: file:///etc/ldap/schema/msuser.ldif

dn: olcDatabase={{-1}}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {{-1}}frontend

dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config
olcAccess: {{0}}to * by * none

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcSuffix: {suffix}
olcRootDN: {admin}
olcRootPW: {password}
olcDbDirectory: {dir}/db
olcDbMaxSize: {max_size}
olcDbNoSync: TRUE
olcDbIndex: objectClass eq
olcDbIndex: entryUUID,entryCSN eq
olcAccess: {{0}}to * by * read
olcLimits: {{0}}dn.exact="{admin}" size=unlimited time=unlimited
olcLimits: {{1}}* size.soft=500 size.hard=500 size.pr=1000 size.prtotal=unlimited

dn: olcOverlay={{0}}syncprov,olcDatabase={{1}}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcSyncProvConfig
olcOverlay: {{0}}syncprov
olcSpCheckpoint: 100 10
olcSpSessionlog: {sessionlog}
"""


def available():
    return os.path.exists(SLAPD) and os.path.exists(SLAPADD)


def require():
    """Skips the calling test module when slapd is missing; fails it in CI, where
    ANNUAIRE_TEST_REQUIRE_SERVICES=1 says a missing server is an error."""
    import pytest

    if available():
        return
    if os.environ.get("ANNUAIRE_TEST_REQUIRE_SERVICES") == "1":
        raise RuntimeError("slapd is not installed")
    pytest.skip("slapd is not installed", allow_module_level=True)


def person(uid, uuid, mails=(), cn=None, extra=""):
    """An inetOrgPerson entry as LDIF text."""
    lines = [f"dn: uid={uid},ou=people,{SUFFIX}", "objectClass: inetOrgPerson", f"uid: {uid}",
             f"cn: {cn or uid}", f"sn: {uid}", f"entryUUID: {uuid}"]
    lines += [f"mail: {m}" for m in mails]
    return "\n".join(lines) + ("\n" + extra.strip() if extra.strip() else "") + "\n\n"


BASE = f"""dn: {SUFFIX}
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: ou=people,{SUFFIX}
objectClass: organizationalUnit
ou: people

"""


def make_ca(directory):
    """A test CA and a server certificate for 127.0.0.1 (IP SAN): libldap checks the name."""
    def run(*args):
        subprocess.run(args, check=True, capture_output=True, cwd=directory)
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
        "-days", "2", "-subj", "/CN=Annuaire Test CA")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=127.0.0.1")
    with open(os.path.join(directory, "ext.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    run("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "ext.cnf")
    return os.path.join(directory, "ca.crt")


class Slapd:
    def __init__(self, entries_ldif="", sessionlog=1000, tls=False, entries_file=None,
                 max_size=1 << 30):
        """entries_ldif and the file entries_file (for big directories) are loaded under
        the base entries; max_size bounds the mdb database, in bytes."""
        base = os.environ.get("ANNUAIRE_IT_TMP") or None
        if base:
            os.makedirs(base, exist_ok=True)  # the first test of a fresh build directory
        self.dir = tempfile.mkdtemp(prefix="slapd-", dir=base)
        self.port = ports.reserve()
        self.url = f"ldap://127.0.0.1:{self.port}"
        self.tls_port = ports.reserve() if tls else None
        self.ldaps_url = f"ldaps://127.0.0.1:{self.tls_port}" if tls else None
        self.ca_file = None
        self.proc = None
        for sub in ("slapd.d", "db", "run", "tls"):
            os.makedirs(os.path.join(self.dir, sub))
        tls_config = ""
        if tls:
            self.ca_file = make_ca(os.path.join(self.dir, "tls"))
            t = os.path.join(self.dir, "tls")
            tls_config = (f"olcTLSCACertificateFile: {t}/ca.crt\nolcTLSCertificateFile: {t}/server.crt\n"
                          f"olcTLSCertificateKeyFile: {t}/server.key\n")
        with open(os.path.join(self.dir, "config.ldif"), "w") as f:
            f.write(CONFIG.format(dir=self.dir, suffix=SUFFIX, admin=ADMIN, password=PASSWORD,
                                  sessionlog=sessionlog, tls=tls_config, max_size=max_size))
        self._run([SLAPADD, "-n0", "-F", self.dir + "/slapd.d", "-l", self.dir + "/config.ldif"])
        with open(os.path.join(self.dir, "data.ldif"), "w") as f:
            f.write(BASE + entries_ldif)
            if entries_file is not None:
                with open(entries_file) as more:
                    shutil.copyfileobj(more, f, 1 << 20)
        self._run([SLAPADD, "-q", "-F", self.dir + "/slapd.d", "-b", SUFFIX, "-l", self.dir + "/data.ldif"])
        self.start()

    @staticmethod
    def _run(args):
        r = subprocess.run(args, capture_output=True, text=True)
        assert r.returncode == 0, (args, r.stdout, r.stderr)

    def start(self):
        urls = self.url + "/" + (f" {self.ldaps_url}/" if self.ldaps_url else "")
        self.proc = subprocess.Popen([SLAPD, "-d", "0", "-F", self.dir + "/slapd.d", "-h", urls],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            r = subprocess.run(["ldapsearch", "-x", "-H", self.url, "-b", "", "-s", "base", "1.1"],
                               capture_output=True, env={**os.environ, "LDAPNOINIT": "1"})
            if r.returncode == 0:
                return
            time.sleep(0.05)
        raise AssertionError("slapd did not start")

    def stop(self, sig=signal.SIGINT):
        if self.proc is not None:
            self.proc.send_signal(sig)
            self.proc.wait(10)
            self.proc = None

    def modify(self, ldif):
        """Online changes (ldapmodify as the admin), e.g. changetype: add/modify/modrdn/delete."""
        r = subprocess.run(["ldapmodify", "-x", "-H", self.url, "-D", ADMIN, "-w", PASSWORD],
                           input=ldif, capture_output=True, text=True, env={**os.environ, "LDAPNOINIT": "1"})
        assert r.returncode == 0, r.stderr

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


if __name__ == "__main__":
    # For bench/sync.sh: a server left running; prints its directory and port.
    #   python3 slapd.py ENTRIES_FILE SESSIONLOG MAX_SIZE
    import sys

    server = Slapd(entries_file=sys.argv[1], sessionlog=int(sys.argv[2]), max_size=int(sys.argv[3]))
    print(server.dir, server.port)
