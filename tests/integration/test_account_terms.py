"""it.account.terms: GET /terms from the configuration; authenticated endpoints answer
403 M_TERMS_NOT_SIGNED until every current policy is accepted (in any language)."""
import requests

import harness
from fake_hs import FakeHomeserver
from harness import assert_matrix_error

V2 = "/_matrix/identity/v2"

POLICIES = """
terms:
  policies:
    cgu:
      version: "1.0"
      fr: {name: "Conditions générales", url: "https://is.test/cgu-1.0.fr.html"}
      en: {name: "Terms of use", url: "https://is.test/cgu-1.0.en.html"}
    privacy:
      version: "2.1"
      fr: {name: "Confidentialité", url: "https://is.test/privacy-2.1.fr.html"}
"""


def test_terms_gate(cluster):
    hs = FakeHomeserver()
    hs.tokens["oid"] = "@dave:hs.test"
    config = POLICIES + f"account:\n  homeservers: {{\"hs.test\": \"{hs.base_url}\"}}\n"
    try:
        with harness.Service(cluster, config=config) as svc:
            r = requests.get(svc.url(V2 + "/terms"))
            assert r.status_code == 200
            policies = r.json()["policies"]
            assert policies["cgu"]["version"] == "1.0"
            assert policies["cgu"]["fr"] == {"name": "Conditions générales",
                                             "url": "https://is.test/cgu-1.0.fr.html"}
            assert policies["privacy"]["fr"]["url"] == "https://is.test/privacy-2.1.fr.html"

            token = requests.post(svc.url(V2 + "/account/register"), json={
                "access_token": "oid", "token_type": "Bearer", "matrix_server_name": "hs.test",
                "expires_in": 60}).json()["token"]
            auth = {"Authorization": f"Bearer {token}"}
            assert_matrix_error(requests.get(svc.url(V2 + "/account"), headers=auth), 403,
                                "M_TERMS_NOT_SIGNED")
            # Accepting is allowed before the terms are accepted; unknown URLs mean nothing.
            r = requests.post(svc.url(V2 + "/terms"), headers=auth,
                              json={"user_accepts": ["https://is.test/cgu-1.0.en.html",
                                                     "https://evil.test/x"]})
            assert r.status_code == 200 and r.json() == {}
            assert_matrix_error(requests.get(svc.url(V2 + "/account"), headers=auth), 403,
                                "M_TERMS_NOT_SIGNED")
            r = requests.post(svc.url(V2 + "/terms"), headers=auth,
                              json={"user_accepts": ["https://is.test/privacy-2.1.fr.html"]})
            assert r.status_code == 200
            assert requests.get(svc.url(V2 + "/account"), headers=auth).json() == {"user_id": "@dave:hs.test"}
            # Accepting again is harmless.
            assert requests.post(svc.url(V2 + "/terms"), headers=auth,
                                 json={"user_accepts": ["https://is.test/privacy-2.1.fr.html"]}).status_code == 200
            # Bad bodies, and no token.
            assert_matrix_error(requests.post(svc.url(V2 + "/terms"), headers=auth, json={}), 400,
                                "M_MISSING_PARAMS")
            assert_matrix_error(requests.post(svc.url(V2 + "/terms"), headers=auth,
                                              json={"user_accepts": [1]}), 400, "M_INVALID_PARAM")
            assert_matrix_error(requests.post(svc.url(V2 + "/terms"), json={"user_accepts": []}), 401,
                                "M_UNAUTHORIZED")
            stored = cluster.psql("SELECT url FROM annuaire.accepted_terms ORDER BY url", db=svc.db)
            assert stored.split() == ["https://is.test/cgu-1.0.en.html", "https://is.test/privacy-2.1.fr.html"]
    finally:
        hs.close()


def test_no_terms(service):
    assert requests.get(service.url(V2 + "/terms")).json() == {"policies": {}}
