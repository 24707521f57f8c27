"""A private OpenLDAP server for the tests: its own cn=config and mdb database in a
temporary directory, syncprov with a small session log, fixtures loaded offline with
slapadd -q, listening on 127.0.0.1 only."""
import os
import shutil
import signal
import subprocess
import tempfile
import time

import harness

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
olcDbMaxSize: 1073741824
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


class Slapd:
    def __init__(self, entries_ldif="", sessionlog=1000):
        self.dir = tempfile.mkdtemp(prefix="slapd-", dir=os.environ.get("ANNUAIRE_IT_TMP") or None)
        self.port = harness.free_port()
        self.url = f"ldap://127.0.0.1:{self.port}"
        self.proc = None
        for sub in ("slapd.d", "db", "run"):
            os.makedirs(os.path.join(self.dir, sub))
        with open(os.path.join(self.dir, "config.ldif"), "w") as f:
            f.write(CONFIG.format(dir=self.dir, suffix=SUFFIX, admin=ADMIN, password=PASSWORD,
                                  sessionlog=sessionlog))
        self._run([SLAPADD, "-n0", "-F", self.dir + "/slapd.d", "-l", self.dir + "/config.ldif"])
        with open(os.path.join(self.dir, "data.ldif"), "w") as f:
            f.write(BASE + entries_ldif)
        self._run([SLAPADD, "-q", "-F", self.dir + "/slapd.d", "-b", SUFFIX, "-l", self.dir + "/data.ldif"])
        self.start()

    @staticmethod
    def _run(args):
        r = subprocess.run(args, capture_output=True, text=True)
        assert r.returncode == 0, (args, r.stdout, r.stderr)

    def start(self):
        self.proc = subprocess.Popen([SLAPD, "-d", "0", "-F", self.dir + "/slapd.d", "-h", self.url + "/"],
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
