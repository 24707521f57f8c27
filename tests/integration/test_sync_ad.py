"""it.sync.ad: Active Directory-shaped entries (Debian's msuser schema in slapd) with the
"ad" attribute map: objectGUID as the key, proxyAddresses with their SMTP:/smtp: prefixes
(other address types ignored), the userAccountControl disabled bit."""
import base64
import uuid


import harness
import slapd
from slapd import SUFFIX, Slapd
from test_sync_ldap import sql

slapd.require()

GUID1 = uuid.UUID("4f0e2b9c-1d2a-4c3b-8e7f-0a1b2c3d4e5f").bytes
GUID2 = uuid.UUID("5a6b7c8d-9e0f-4a1b-9c2d-3e4f5a6b7c8d").bytes


def ad_user(cn, guid, mails, proxies, uac, title="Chargé de mission"):
    lines = [f"dn: cn={cn},ou=people,{SUFFIX}", "objectClass: user", f"cn: {cn}", f"sn: {cn.split()[-1]}",
             "instanceType: 4", "nTSecurityDescriptor:: AQAEgA==",
             f"objectCategory: CN=Person,CN=Schema,CN=Configuration,{SUFFIX}",
             f"objectGUID:: {base64.b64encode(guid).decode()}", f"displayName: {cn}",
             f"userAccountControl: {uac}", f"title: {title}"]
    lines += [f"mail: {m}" for m in mails] + [f"proxyAddresses: {p}" for p in proxies]
    return "\n".join(lines) + "\n\n"


def test_active_directory_entries(cluster, tmp_path):
    entries = (ad_user("Jean Martin", GUID1, ["Jean.Martin@Interieur.gouv.fr"],
                       ["SMTP:jean.martin@interieur.gouv.fr", "smtp:j.martin@interieur.gouv.fr",
                        "X500:/o=Interieur/ou=Exchange/cn=jmartin", "SIP:jean.martin@interieur.gouv.fr"], 512)
               + ad_user("Paul Durand", GUID2, [], ["SMTP:paul.durand@interieur.gouv.fr"], 514))
    server = Slapd(entries)
    pw = tmp_path / "pw"
    pw.write_text("secret\n")
    config = ("sync:\n  sources:\n    - name: interieur\n      ministry: \"Ministère de l'Intérieur\"\n"
              "      schema: ad\n      ldap:\n"
              f"        urls: [\"{server.url}\"]\n        bind_dn: \"{slapd.ADMIN}\"\n"
              f"        bind_password_file: {pw}\n        base_dns: [\"ou=people,{SUFFIX}\"]\n"
              "        filter: \"(objectClass=user)\"\n        page_size: 500\n")
    try:
        svc = harness.Service(cluster, config=config)
        r = svc.run("sync")
        assert r.returncode == 0, r.stderr
        assert "interieur: success (full) added=2" in r.stdout
        rows = sql(svc, "SELECT key, mails, disabled, title FROM annuaire.directory_entries ORDER BY key")
        assert rows.splitlines() == [
            f"{GUID1.hex()}|{{jean.martin@interieur.gouv.fr,j.martin@interieur.gouv.fr}}|f|Chargé de mission",
            f"{GUID2.hex()}|{{paul.durand@interieur.gouv.fr}}|t|Chargé de mission"]
    finally:
        server.close()
