"""it.routing.info: /info and /internal-info against a routing file with an exact entry,
a domain, a subdomain wildcard, a protected server with its twin and a catch-all for
externals: matching order and anchoring, normalised addresses, the shadow split by
client network (X-Forwarded-For from trusted proxies only), an existing binding
(new_hs), parameters, internal-info on its own listener with its secret, invitations
and agents of the annuaire, the homeserver module's contract, reloads (a broken file
keeps the previous mapping) and `annuaire routing check`."""
import signal
import time

import pytest
import requests

import harness
import ports
from harness import assert_matrix_error
from routing_env import (MAPPING, V1, culture_source, routing_check, routing_config, sync_culture,
                         write_mapping)


def info(svc, address, medium="email", headers=None, port=None):
    base = f"http://127.0.0.1:{port}" if port else svc.url("")
    return requests.get(base + V1 + "/info", params={"medium": medium, "address": address},
                        headers=headers or {})


def internal(port, address, medium="email", headers=None):
    return requests.get(f"http://127.0.0.1:{port}{V1}/internal-info",
                        params={"medium": medium, "address": address}, headers=headers or {})


@pytest.fixture
def routed(cluster, tmp_path):
    """No client network restriction: every client is inside."""
    path = write_mapping(tmp_path)
    port = ports.reserve()
    with harness.Service(cluster, config=routing_config(
            path, routing_extra=f"  internal_port: {port}\n") + culture_source()) as svc:
        yield svc, port, path


def test_matching_order_and_anchoring(routed):
    svc, _, _ = routed
    # The exact entry beats the catch-all it would otherwise fall to.
    assert info(svc, "prestataire@partenaire.test").json() == {"hs": "agent.culture.test"}
    # A domain-only pattern: its domain, not a subdomain (that one falls to the catch-all).
    assert info(svc, "jean@interieur.gouv.fr").json() == {
        "hs": "agent.interieur.test", "shadow_hs": "internet.interieur.test"}
    assert info(svc, "jean@dgpn.interieur.gouv.fr").json() == {"hs": "agent.externe.test"}
    # The (.*\.|) idiom: the domain and its subdomains; extra keys are echoed.
    for address in ("a@culture.gouv.fr", "a@drac.idf.culture.gouv.fr"):
        assert info(svc, address).json() == {"hs": "agent.culture.test", "region": "Île-de-France"}
    # Anchored at both ends: a longer domain does not match.
    assert info(svc, "a@culture.gouv.fr.evil.test").json() == {"hs": "agent.externe.test"}
    # Case and IDNA are normalised before matching; requires_invite never leaks.
    assert info(svc, "Jean.Dupont@INTERIEUR.Gouv.FR").json()["hs"] == "agent.interieur.test"
    assert info(svc, "agent@Intérieur.test").json()["hs"] == "agent.interieur.test"
    assert info(svc, "someone@gmail.com").json() == {"hs": "agent.externe.test"}
    # Not an acceptable e-mail address: nothing matches, not even the catch-all (no
    # homeserver may register it), and look-alikes are not their ASCII twins (PCRE's
    # caseless matching would let U+017F match an s).
    for address in ("not an address", "b\u200bob@culture.gouv.fr", "a@ju\u017ftice.gouv.fr",
                    "bob@gma\u0130l.culture.gouv.fr", "b ob@culture.gouv.fr"):
        assert info(svc, address).json() == {}, address
    # Another medium is matched as typed, as the reference does.
    assert info(svc, "not an address", medium="msisdn").json() == {"hs": "agent.externe.test"}


def test_parameters(routed):
    svc, _, _ = routed
    r = requests.get(svc.url(V1 + "/info"), params={"address": "a@b.test"})
    assert_matrix_error(r, 400, "M_MISSING_PARAMS")
    assert "medium" in r.json()["error"]
    assert_matrix_error(requests.get(svc.url(V1 + "/info")), 400, "M_MISSING_PARAMS")
    assert_matrix_error(info(svc, "a@b.test", medium="fax"), 400, "M_INVALID_PARAM")
    assert_matrix_error(requests.get(svc.url(V1 + "/info?medium=email&address=%FF%FE")), 400,
                        "M_INVALID_PARAM")
    assert_matrix_error(info(svc, ""), 400, "M_INVALID_PARAM")
    assert_matrix_error(info(svc, "a" * 600 + "@b.test"), 400, "M_INVALID_PARAM")
    r = requests.options(svc.url(V1 + "/info"))
    assert r.status_code == 200 and r.headers["Access-Control-Allow-Origin"] == "*"


def test_no_match_and_no_routing(cluster, tmp_path):
    path = write_mapping(tmp_path, MAPPING.replace("      - '.*': *externes", ""))
    with harness.Service(cluster, config=routing_config(path)) as svc:
        assert info(svc, "someone@gmail.com").json() == {}
        assert info(svc, "someone@gmail.com", medium="msisdn").json() == {}
    with harness.Service(cluster) as svc:  # no routing file at all
        assert info(svc, "jean@interieur.gouv.fr").json() == {}


def test_shadow_split_by_client_network(cluster, tmp_path):
    path = write_mapping(tmp_path)
    protected = {"hs": "agent.interieur.test", "shadow_hs": "internet.interieur.test"}
    outside = {"hs": "internet.interieur.test"}
    inside = {"X-Forwarded-For": "10.1.2.3"}
    # The client network list is set; this service believes no proxy.
    with harness.Service(cluster, config=routing_config(
            path, routing_extra="  nonshadow: [\"10.0.0.0/8\"]\n")) as svc:
        assert info(svc, "jean@interieur.gouv.fr").json() == outside
        # A spoofed X-Forwarded-For from a peer that is not a trusted proxy: ignored.
        assert info(svc, "jean@interieur.gouv.fr", headers=inside).json() == outside
        # A server without a twin is not protected: it stays.
        assert info(svc, "a@culture.gouv.fr").json()["hs"] == "agent.culture.test"
    # Behind a trusted proxy, its X-Forwarded-For says where the client is.
    with harness.Service(cluster, http_extra="  trusted_proxies: [\"127.0.0.1/32\"]\n",
                         config=routing_config(path, routing_extra="  nonshadow: [\"10.0.0.0/8\"]\n")) as svc:
        assert info(svc, "jean@interieur.gouv.fr", headers=inside).json() == protected
        assert info(svc, "jean@interieur.gouv.fr", headers={"X-Forwarded-For": "192.0.2.1"}).json() == outside
        # internal-info ignores client networks.
    # No list: every client is inside.
    with harness.Service(cluster, config=routing_config(path)) as svc:
        assert info(svc, "jean@interieur.gouv.fr").json() == protected


def bind_directly(svc, address, mxid, medium="email"):
    """An association made before the mapping changed (bind itself would refuse it now)."""
    svc.cluster.psql(
        "INSERT INTO annuaire.associations (medium, address, mxid, ts, not_before, not_after, lookup_hash)"
        f" SELECT '{medium}', '{address}', '{mxid}', 0, 0, 4102444800000,"
        f" annuaire.lookup_hash('{address}', '{medium}', p.pepper) FROM annuaire.lookup_pepper p",
        db=svc.db)


def test_existing_binding(routed):
    svc, port, _ = routed
    bind_directly(svc, "moved@culture.gouv.fr", "@moved:agent.interieur.test")
    bind_directly(svc, "stays@culture.gouv.fr", "@stays:agent.culture.test")
    bind_directly(svc, "twin@interieur.gouv.fr", "@twin:internet.interieur.test")
    assert info(svc, "moved@culture.gouv.fr").json() == {
        "hs": "agent.interieur.test", "new_hs": "agent.culture.test", "region": "Île-de-France"}
    assert "new_hs" not in info(svc, "stays@culture.gouv.fr").json()
    # An account on the mapped server's twin is on the same platform.
    assert "new_hs" not in info(svc, "twin@interieur.gouv.fr").json()
    # Server names compare in any case, as the bind restriction compares them.
    bind_directly(svc, "cased@culture.gouv.fr", "@cased:Agent.Culture.test")
    assert "new_hs" not in info(svc, "cased@culture.gouv.fr").json()
    # The binding is looked up by medium: another medium has none.
    assert info(svc, "moved@culture.gouv.fr", medium="msisdn").json()["hs"] == "agent.culture.test"
    # internal-info answers the same way: a second account elsewhere would be refused.
    r = internal(port, "moved@culture.gouv.fr").json()
    assert r["hs"] == "agent.interieur.test" and r["new_hs"] == "agent.culture.test"


def allowed(server_name, answer):
    """synapse-3pid-checker's rule, with shadow_hs as synapse-dinsic accepts it."""
    if server_name not in (answer.get("hs"), answer.get("shadow_hs")):
        return False
    return not (answer.get("requires_invite") and not answer.get("invited"))


def test_internal_info(routed):
    svc, port, _ = routed
    r = internal(port, "jean@interieur.gouv.fr")
    assert r.status_code == 200
    assert r.json() == {"hs": "agent.interieur.test", "shadow_hs": "internet.interieur.test",
                        "requires_invite": False, "external": False, "invited": False}
    assert internal(port, "someone@gmail.com").json() == {
        "hs": "agent.externe.test", "requires_invite": True, "external": True, "invited": False}
    # An address without a canonical form gets no homeserver: a homeserver applying the
    # synapse-3pid-checker rule refuses it.
    for address in ("b\u200bob@culture.gouv.fr", "jean@interieur\u00ad.gouv.fr", "x y@culture.gouv.fr"):
        assert "hs" not in internal(port, address).json(), address
    # Never on the public listener; the public routes are not on the internal one.
    assert_matrix_error(requests.get(svc.url(V1 + "/internal-info"),
                                     params={"medium": "email", "address": "a@b.test"}), 404, "M_UNRECOGNIZED")
    assert requests.get(f"http://127.0.0.1:{port}/_matrix/identity/v2").status_code == 404
    assert requests.get(f"http://127.0.0.1:{port}{V1}/info",
                        params={"medium": "email", "address": "a@b.test"}).status_code == 404
    assert_matrix_error(internal(port, "x", medium="fax"), 400, "M_INVALID_PARAM")

    # An invitation stored before senders were checked (no verified_by) opens nothing.
    svc.cluster.psql("INSERT INTO annuaire.invites (token, medium, address, room_id, sender,"
                     " ephemeral_public_key) VALUES ('t0', 'email', 'bob@gmail.com', '!r:hs.test',"
                     " '@alice:hs.test', 'k0')", db=svc.db)
    assert internal(port, "Bob@Gmail.com").json()["invited"] is False
    # An invitation pending for the address: invited, until it expires or is delivered.
    svc.cluster.psql("INSERT INTO annuaire.invites (token, medium, address, room_id, sender,"
                     " ephemeral_public_key, verified_by) VALUES ('t1', 'email', 'bob@gmail.com',"
                     " '!r:hs.test', '@alice:hs.test', 'k1', 'token')", db=svc.db)
    bob = internal(port, "Bob@Gmail.com").json()
    assert bob["invited"] is True
    assert allowed("agent.externe.test", bob) and not allowed("agent.culture.test", bob)
    assert not allowed("agent.externe.test", internal(port, "carol@gmail.com").json())
    assert allowed("agent.interieur.test", internal(port, "jean@interieur.gouv.fr").json())
    assert allowed("internet.interieur.test", internal(port, "jean@interieur.gouv.fr").json())
    svc.cluster.psql("DELETE FROM annuaire.invites WHERE token = 't1'", db=svc.db)  # delivered
    assert internal(port, "bob@gmail.com").json()["invited"] is False

    # A known agent of the annuaire: the ministry and entity to suggest.
    sync_culture(svc)
    r = internal(port, "elodie.martin@culture.gouv.fr").json()
    assert r["agent"] == {"ministry": "Ministère de la Culture",
                          "entity": "Direction générale des patrimoines et de l'architecture"}
    assert r["external"] is False
    assert "agent" not in internal(port, "nobody@culture.gouv.fr").json()


def test_internal_info_annuaire_platform(cluster, tmp_path):
    """On a platform of routing.annuaire_servers, internal-info gives the homeserver what
    the enrollment gate decides: a non-agent requires an invitation it cannot have."""
    path = write_mapping(tmp_path)
    port = ports.reserve()
    with harness.Service(cluster, config=routing_config(
            path, routing_extra=f"  internal_port: {port}\n  annuaire_servers: [agent.culture.test]\n")
            + culture_source()) as svc:
        sync_culture(svc)
        stranger = internal(port, "stranger@culture.gouv.fr").json()
        assert stranger["hs"] == "agent.culture.test" and "agent" not in stranger
        assert stranger["requires_invite"] is True and stranger["invited"] is False
        assert not allowed("agent.culture.test", stranger)
        # An invitation does not let a non-agent onto an annuaire platform (nor past the
        # gate): it does not count here either.
        svc.cluster.psql("INSERT INTO annuaire.invites (token, medium, address, room_id, sender,"
                         " ephemeral_public_key, verified_by) VALUES ('t2', 'email',"
                         " 'stranger@culture.gouv.fr', '!r:agent.culture.test', '@a:agent.culture.test',"
                         " 'k2', 'token')", db=svc.db)
        stranger = internal(port, "stranger@culture.gouv.fr").json()
        assert stranger["invited"] is False and not allowed("agent.culture.test", stranger)
        # Its agents may register; the exact entry is the gate's named exception.
        agent = internal(port, "elodie.martin@culture.gouv.fr").json()
        assert agent["requires_invite"] is False and "agent" in agent
        assert allowed("agent.culture.test", agent)
        exact = internal(port, "prestataire@partenaire.test").json()
        assert exact["requires_invite"] is False and allowed("agent.culture.test", exact)
        # Other platforms are unchanged.
        assert allowed("agent.interieur.test", internal(port, "jean@interieur.gouv.fr").json())
        # The gate agrees on each.
        for address, open_ in (("stranger@culture.gouv.fr", False), ("elodie.martin@culture.gouv.fr", True),
                               ("prestataire@partenaire.test", True)):
            r = requests.post(svc.url(V1 + "/validate/email/requestToken"),
                              json={"client_secret": "s", "email": address, "send_attempt": 1})
            assert r.status_code == (200 if open_ else 403), (address, r.text)


def test_internal_secret_and_invite_expiry(cluster, tmp_path):
    path = write_mapping(tmp_path)
    port = ports.reserve()
    secret = "s3cret-for-homeservers"
    with harness.Service(cluster, config=routing_config(
            path, routing_extra=f"  internal_port: {port}\n  internal_secret: {secret}\n",
            extra="invites:\n  validity: 3600\n")) as svc:
        assert_matrix_error(internal(port, "a@b.test"), 401, "M_UNAUTHORIZED")
        assert_matrix_error(internal(port, "a@b.test", headers={"Authorization": "Bearer nope"}),
                            401, "M_UNAUTHORIZED")
        assert_matrix_error(internal(port, "a@b.test", headers={"Authorization": "Basic " + secret}),
                            401, "M_UNAUTHORIZED")
        auth = {"Authorization": "Bearer " + secret}
        assert internal(port, "a@b.test", headers=auth).status_code == 200
        # Read as every bearer token is (core/http.c): the scheme in any case.
        lower = {"Authorization": "bearer " + secret}
        assert internal(port, "a@b.test", headers=lower).status_code == 200
        svc.cluster.psql(
            "INSERT INTO annuaire.invites (token, medium, address, room_id, sender, ephemeral_public_key,"
            " created_at, expires_at, verified_by) VALUES"
            " ('old', 'email', 'old@b.test', '!r:x', '@a:x', 'k-old', now() - interval '2 hours',"
            "  now() - interval '1 hour', 'token'),"
            " ('new', 'email', 'new@b.test', '!r:x', '@a:x', 'k-new', now() - interval '30 minutes',"
            "  now() + interval '30 minutes', 'token')",
            db=svc.db)
        assert internal(port, "old@b.test", headers=auth).json()["invited"] is False  # expired
        assert internal(port, "new@b.test", headers=auth).json()["invited"] is True


def test_reload(routed):
    svc, _, path = routed
    before = info(svc, "a@culture.gouv.fr").json()
    # A broken file is reported and the previous mapping stays in force, on SIGHUP...
    path.write_text(MAPPING.replace("'.*@(.*\\.|)culture\\.gouv\\.fr'", "'(unclosed'"))
    svc.proc.send_signal(signal.SIGHUP)
    assert svc.wait_log("the previous mapping stays in force")
    assert "missing closing parenthesis" in svc.read_log()
    assert info(svc, "a@culture.gouv.fr").json() == before
    # ...and the file is watched: a good change is in force within a couple of seconds.
    path.write_text(MAPPING.replace("agent.culture.test, region", "agent.culture2.test, region"))
    deadline = time.monotonic() + 5
    while info(svc, "a@culture.gouv.fr").json()["hs"] != "agent.culture2.test":
        assert time.monotonic() < deadline, svc.read_log()
        time.sleep(0.1)
    text = requests.get(svc.url("/metrics")).text
    assert harness.metric(text, "annuaire_routing_reloads_total", result="failed") >= 1
    assert harness.metric(text, "annuaire_routing_reloads_total", result="success") >= 1
    assert harness.metric(text, "annuaire_routing_rules", kind="pattern") == 4


def test_broken_file_at_start(cluster, tmp_path):
    path = write_mapping(tmp_path, "medium:\n  email:\n    patterns:\n      - '.*': {requires_invite: true}\n")
    svc = harness.Service(cluster, config=routing_config(path))
    svc.start(wait=False)
    assert svc.proc.wait(30) == 1
    svc.proc = None
    svc.log.close()
    assert "info.yaml:4: 'hs' must be a server name" in svc.read_log()
    r = svc.run("check-config")
    assert r.returncode == 1 and "routing.info_file: " in r.stderr and "'hs' must be" in r.stderr


def test_routing_check(tmp_path):
    path = write_mapping(tmp_path)
    r = routing_check("--file", str(path), "Jean@Interieur.gouv.fr", "bob@gmail.com",
                      "prestataire@partenaire.test", "nope")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("jean@interieur.gouv.fr: hs=agent.interieur.test "
                               "shadow_hs=internet.interieur.test requires_invite=false, agents' platform")
    assert "pattern '.*@interieur\\.gouv\\.fr'" in lines[0] and f"({path}:" in lines[0]
    assert "hs=agent.externe.test requires_invite=true, externals' platform; pattern '.*'" in lines[1]
    assert "entry 'prestataire@partenaire.test'" in lines[2]
    assert lines[3].startswith("nope (not an e-mail address: matched as typed): hs=agent.externe.test")
    path.write_text("medium:\n  email:\n    patterns:\n      - '(a': {hs: x.test}\n")
    r = routing_check("--file", str(path), "a@b.test")
    assert r.returncode == 1 and f"{path}:4: pattern '(a'" in r.stderr
    assert routing_check("a@b.test").returncode == 2
    # Aliases that would expand to a billion values are refused, quickly.
    bomb = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"] + [
        f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    path.write_text("\n".join(bomb + ["medium:", "  email:", "    patterns:",
                                      "      - '.*': {hs: x.test, extra: *a8}"]) + "\n")
    r = routing_check("--file", str(path), "a@b.test")
    assert r.returncode == 1 and "too many values" in r.stderr
    path.write_text("medium:\n  email:\n    patterns:\n      - '.*': {hs: x.test, hs: y.test}\n")
    r = routing_check("--file", str(path), "a@b.test")
    assert r.returncode == 1 and "'hs' given more than once" in r.stderr
