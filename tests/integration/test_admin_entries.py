"""it.admin.entries: GET /_annuaire/admin/v1/entries?address= after real `annuaire sync`
runs and a real bind: every entry holding the address (in its canonical form) with its
source, key, ministry, entity and flags, which one owns it or that several claim it, a
deleted entry, the bound Matrix ID; 400 for a bad address, 404 for an unknown one; and
POST .../pepper/rotate: the associations rehashed, lookups with the old pepper refused,
its pepper.rotated audit entry without the pepper. Both refused without a token, with a
wrong one and without the directory scope, nothing changed."""
import os
import shutil

import pytest
import requests

import harness
from fake_hs import FakeHomeserver
from harness import assert_matrix_error
from smtp_sink import SmtpSink
from test_admin_listener import add_token, auth
from test_admin_sync import ISO
from test_bind_lookup import lookup_hash, validated_session
from test_sync_ldif import entry, source

ENTRIES = "/_annuaire/admin/v1/entries"
ROTATE = "/_annuaire/admin/v1/pepper/rotate"
V2 = "/_matrix/identity/v2"
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
JEAN = "@jean:hs.test"


@pytest.fixture(scope="module")
def env(cluster, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("entries")
    culture = tmp / "culture.ldif"
    shutil.copy(os.path.join(DATA, "culture.ldif"), culture)
    interieur = tmp / "interieur.ldif"
    kept = (entry("amartin", "2b000000-0000-4000-8000-000000000001",
                  ["anne.martin@interieur.gouv.fr"], "ou: Direction des libertés publiques")
            + entry("edoublon", "2b000000-0000-4000-8000-000000000002",
                    ["e.martin@culture.gouv.fr", "e.doublon@interieur.gouv.fr"]))
    interieur.write_text(kept + entry("parti", "2b000000-0000-4000-8000-000000000003",
                                      ["parti@interieur.gouv.fr"]))
    hs = FakeHomeserver()
    sink = SmtpSink()
    config = (harness.homeserver_config(hs)
              + "sync:\n  removal_grace_runs: 0\n  removal_grace_seconds: 0\n  sources:\n"
              + source("culture", culture, 10) + source("interieur", interieur, 20))
    try:
        svc = harness.Service(cluster, admin=True, smtp_port=sink.port, config=config)
        assert svc.run("sync").returncode == 3  # culture has a rejected entry
        interieur.write_text(kept)  # parti is gone
        r = svc.run("sync", "--source", "interieur", "--allow-mass-delete")
        assert r.returncode == 0, r.stderr
        with svc:
            token = harness.register(svc, hs, JEAN)
            svc.user_auth = {"Authorization": f"Bearer {token}"}
            sid = validated_session(svc, sink, svc.user_auth, "Jean.Dupont@culture.gouv.fr")
            r = requests.post(svc.url(V2 + "/3pid/bind"), headers=svc.user_auth,
                              json={"sid": sid, "client_secret": "sec", "mxid": JEAN})
            assert r.status_code == 200, r.text
            svc.tokens = {
                "directory": add_token(svc, "annuairiste", ["directory"]),
                "other": add_token(svc, "synchro", ["sync", "audit", "invitations"]),
            }
            yield svc
    finally:
        sink.stop()
        hs.close()


def get(env, address, token="directory"):
    return requests.get(env.admin_url(ENTRIES), params={"address": address},
                        headers=auth(env.tokens[token]), timeout=10)


def entry_json(source, key, dn, ministry, entity=None, display_name=None, title=None,
               hidden=False, deleted_at=None, owner=False):
    return {"source": source, "key": key, "dn": dn, "ministry": ministry, "entity": entity,
            "display_name": display_name, "title": title, "disabled": False, "hidden": hidden,
            "deleted": deleted_at is not None, "deleted_at": deleted_at, "missing_since": None,
            "owner": owner}


EMARTIN = entry_json(
    "culture", "1a000000-0000-4000-8000-000000000001",
    "uid=emartin,ou=people,dc=culture,dc=gouv,dc=fr", "Ministère culture",
    entity="Direction générale des patrimoines et de l'architecture",
    display_name="Élodie Martin", title="Cheffe de bureau", owner=True)


def test_an_address_two_sources_claim(env):
    # As it was typed (case, spaces) and as it is stored: one canonical form.
    for typed in ("E.Martin@Culture.GOUV.fr", "e.martin@culture.gouv.fr"):
        r = get(env, typed)
        assert r.status_code == 200, r.text
        assert r.json() == {
            "address": "e.martin@culture.gouv.fr",
            "entries": [
                EMARTIN,
                entry_json("interieur", "2b000000-0000-4000-8000-000000000002",
                           "uid=edoublon,ou=people,dc=culture,dc=gouv,dc=fr",
                           "Ministère interieur", display_name=None),
            ],
            "owner": {"source": "culture", "key": "1a000000-0000-4000-8000-000000000001"},
            "conflict": True,
            "mxid": None,
        }


def test_a_hidden_bound_entry(env):
    r = get(env, "jean.dupont@culture.gouv.fr")
    assert r.status_code == 200, r.text
    assert r.json() == {
        "address": "jean.dupont@culture.gouv.fr",
        "entries": [entry_json(
            "culture", "1a000000-0000-4000-8000-000000000002",
            "uid=jdupont,ou=people,dc=culture,dc=gouv,dc=fr", "Ministère culture",
            entity="Service des musées de France",
            display_name="Jean Dupont, chargé de mission au service des musées de France, "
                         "sous-direction des collections",
            hidden=True, owner=True)],
        "owner": {"source": "culture", "key": "1a000000-0000-4000-8000-000000000002"},
        "conflict": False,
        "mxid": JEAN,
    }


def test_a_deleted_entry_owns_nothing(env):
    deleted_at = env.sql(f"SELECT to_char(deleted_at AT TIME ZONE 'UTC', {ISO})"
                         " FROM annuaire.directory_entries WHERE dn LIKE 'uid=parti,%'").strip()
    assert deleted_at
    r = get(env, "parti@interieur.gouv.fr")
    assert r.status_code == 200, r.text
    assert r.json() == {
        "address": "parti@interieur.gouv.fr",
        "entries": [entry_json("interieur", "2b000000-0000-4000-8000-000000000003",
                               "uid=parti,ou=people,dc=culture,dc=gouv,dc=fr",
                               "Ministère interieur", deleted_at=deleted_at)],
        "owner": None, "conflict": False, "mxid": None,
    }


def test_bad_missing_and_unknown_addresses(env):
    assert_matrix_error(get(env, "not an address"), 400, "M_INVALID_EMAIL")
    assert_matrix_error(get(env, "a" * 600 + "@culture.gouv.fr"), 400, "M_INVALID_EMAIL")
    r = requests.get(env.admin_url(ENTRIES), headers=auth(env.tokens["directory"]), timeout=10)
    assert_matrix_error(r, 400, "M_MISSING_PARAMS")
    assert_matrix_error(get(env, "personne@culture.gouv.fr"), 404, "M_NOT_FOUND")


def pepper(env):
    return requests.get(env.url(V2 + "/hash_details"),
                        headers=env.user_auth).json()["lookup_pepper"]


def lookup(env, pep, address="jean.dupont@culture.gouv.fr"):
    return requests.post(env.url(V2 + "/lookup"), headers=env.user_auth, json={
        "algorithm": "sha256", "pepper": pep, "addresses": [lookup_hash(address, "email", pep)]})


def state(env):
    return env.sql("SELECT (SELECT pepper FROM annuaire.lookup_pepper),"
                   " (SELECT string_agg(lookup_hash, ',') FROM annuaire.associations),"
                   " (SELECT count(*) FROM annuaire.audit_log WHERE action <> 'admin.denied')")


def test_pepper_rotation(env):
    old = pepper(env)
    assert lookup(env, old).json() == {
        "mappings": {lookup_hash("jean.dupont@culture.gouv.fr", "email", old): JEAN}}
    before = int(env.sql("SELECT count(*) FROM annuaire.audit_log"))
    r = requests.post(env.admin_url(ROTATE), headers=auth(env.tokens["directory"]), timeout=10)
    assert r.status_code == 200, r.text
    assert r.json() == {"rehashed": 1}
    new = pepper(env)
    assert new != old and new not in r.text
    r = lookup(env, old)
    assert_matrix_error(r, 400, "M_INVALID_PEPPER")
    assert r.json()["lookup_pepper"] == new
    assert lookup(env, new).json() == {
        "mappings": {lookup_hash("jean.dupont@culture.gouv.fr", "email", new): JEAN}}
    rows = env.sql("SELECT actor_kind, actor, action, object_kind, object_id IS NULL, outcome,"
                   f" details::text FROM annuaire.audit_log ORDER BY id OFFSET {before}")
    assert rows.splitlines() == ['admin|annuairiste|pepper.rotated|pepper|t|ok|{"rehashed": 1}']
    # An empty object is a body too; anything in it is refused, nothing rotated.
    r = requests.post(env.admin_url(ROTATE), json={}, headers=auth(env.tokens["directory"]),
                      timeout=10)
    assert r.status_code == 200 and r.json() == {"rehashed": 1}
    kept = state(env)
    r = requests.post(env.admin_url(ROTATE), json={"pepper": "mine"},
                      headers=auth(env.tokens["directory"]), timeout=10)
    assert_matrix_error(r, 400, "M_INVALID_PARAM")
    assert state(env) == kept


@pytest.mark.parametrize("method, path", [("GET", ENTRIES), ("POST", ROTATE)])
def test_refused_without_the_directory_scope(env, method, path):
    before = state(env)
    denied = int(env.sql("SELECT count(*) FROM annuaire.audit_log WHERE action = 'admin.denied'"))
    params = {"address": "jean.dupont@culture.gouv.fr"}
    for headers in ({}, auth("wrong"), auth(env.tokens["directory"][:-1])):
        r = requests.request(method, env.admin_url(path), params=params, headers=headers,
                             timeout=10)
        assert_matrix_error(r, 401, "M_UNAUTHORIZED")
    r = requests.request(method, env.admin_url(path), params=params,
                         headers=auth(env.tokens["other"]), timeout=10)
    assert_matrix_error(r, 403, "M_FORBIDDEN")
    rows = env.sql("SELECT actor, details->>'method', object_id, outcome, details->>'scope'"
                   " FROM annuaire.audit_log WHERE action = 'admin.denied'"
                   f" ORDER BY id OFFSET {denied}").splitlines()
    assert rows == [f"synchro|{method}|{path}|refused|directory"]
    assert state(env) == before
