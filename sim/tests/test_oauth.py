"""OAuth2 token endpoint: password and refresh_token grants, expiring
access tokens, single-use refresh tokens."""

import threading
import time
import unittest

from simtest import CLIENT, USER, SimTestCase


class OAuthTests(SimTestCase):

    def refresh(self, token, **extra):
        params = dict(CLIENT, grant_type="refresh_token", refresh_token=token)
        params.update(extra)
        return self.sim.token_response(**params)

    def test_password_grant_returns_a_bearer_pair(self):
        resp = self.sim.token_response(grant_type="password", **CLIENT, **USER)
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.header("Content-Type"), "application/json")
        self.assertEqual(resp.header("Cache-Control"), "no-store")
        body = resp.json
        self.assertEqual(body["token_type"], "Bearer")
        self.assertEqual(body["expires_in"], 3600)
        self.assertTrue(body["refresh_token"].startswith("def50200"))
        self.assertEqual(body["access_token"].count("."), 2)
        api = self.sim.get("/rest/v1/report-flags", body["access_token"])
        self.assertEqual(api.status, 200)

    def test_v1_token_path_and_json_body_are_accepted(self):
        resp = self.sim.request("POST", "/rest/v1/oauth2/access_token",
                                json_body=dict(grant_type="password",
                                               **CLIENT, **USER))
        self.assertEqual(resp.status, 200, resp.body)
        self.assertIn("access_token", resp.json)

    def test_client_credentials_in_basic_auth_are_accepted(self):
        import base64
        basic = base64.b64encode(b"demo:demo-secret").decode()
        resp = self.sim.request("POST", "/rest/oauth2/access_token",
                                form=dict(grant_type="password", **USER),
                                headers={"Authorization": "Basic " + basic})
        self.assertEqual(resp.status, 200, resp.body)

    def test_wrong_client_secret_is_401_invalid_client(self):
        resp = self.sim.token_response(grant_type="password", client_id="demo",
                                       client_secret="nope", **USER)
        self.assertEqual(resp.status, 401)
        self.assertEqual(resp.json["error"], "invalid_client")
        self.assertNotIn("access_token", resp.json)

    def test_wrong_user_password_is_400_invalid_grant(self):
        resp = self.sim.token_response(grant_type="password", username="api",
                                       password="guess", **CLIENT)
        self.assertEqual(resp.status, 400)
        self.assertEqual(resp.json["error"], "invalid_grant")

    def test_missing_parameters_are_invalid_request(self):
        resp = self.sim.token_response(grant_type="password", username="api",
                                       **CLIENT)
        self.assertEqual(resp.status, 400)
        self.assertEqual(resp.json["error"], "invalid_request")
        self.assertIn("password", resp.json["hint"])
        resp = self.sim.token_response(grant_type="refresh_token", **CLIENT)
        self.assertEqual(resp.status, 400)
        self.assertEqual(resp.json["error"], "invalid_request")

    def test_unknown_grant_type_is_unsupported(self):
        for grant in ("client_credentials", ""):
            resp = self.sim.token_response(grant_type=grant, **CLIENT)
            self.assertEqual(resp.status, 400)
            self.assertEqual(resp.json["error"], "unsupported_grant_type")

    def test_refresh_returns_a_new_pair(self):
        first = self.sim.password_grant()
        resp = self.refresh(first["refresh_token"])
        self.assertEqual(resp.status, 200, resp.body)
        second = resp.json
        self.assertNotEqual(second["access_token"], first["access_token"])
        self.assertNotEqual(second["refresh_token"], first["refresh_token"])
        self.assertEqual(self.sim.get("/rest/v1/bill-items",
                                      second["access_token"]).status, 200)
        third = self.refresh(second["refresh_token"])
        self.assertEqual(third.status, 200)

    def test_refresh_token_is_single_use(self):
        first = self.sim.password_grant()
        self.assertEqual(self.refresh(first["refresh_token"]).status, 200)
        reuse = self.refresh(first["refresh_token"])
        self.assertEqual(reuse.status, 400)
        self.assertEqual(reuse.json["error"], "invalid_grant")
        self.assertEqual(reuse.json["error_description"],
                         "The refresh token is invalid.")
        state = self.sim.admin("GET", "state")
        self.assertEqual(state["counters"]["oauth.refresh_reuse"], 1)
        self.assertEqual(state["counters"]["oauth.refresh_token"], 1)

    def test_unknown_refresh_token_is_invalid_grant(self):
        resp = self.refresh("def50200" + "ab" * 40)
        self.assertEqual(resp.status, 400)
        self.assertEqual(resp.json["error"], "invalid_grant")

    def test_concurrent_refreshes_of_one_token_exactly_one_wins(self):
        rt = self.sim.password_grant()["refresh_token"]
        results = []
        barrier = threading.Barrier(8)

        def worker():
            barrier.wait()
            results.append(self.refresh(rt))
        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        codes = sorted(r.status for r in results)
        self.assertEqual(codes, [200] + [400] * 7)
        self.assertTrue(all(r.json["error"] == "invalid_grant"
                            for r in results if r.status == 400))

    def test_refresh_revokes_the_previous_access_token(self):
        first = self.sim.password_grant()
        second = self.refresh(first["refresh_token"]).json
        old = self.sim.get("/rest/v1/bill-items", first["access_token"])
        self.assertEqual(old.status, 401)
        self.assertIn("revoked", old.json["error"])
        new = self.sim.get("/rest/v1/bill-items", second["access_token"])
        self.assertEqual(new.status, 200)

    def test_access_tokens_expire_after_the_configured_lifetime(self):
        self.sim.admin("POST", "config", {"access_token_ttl": 0.5})
        body = self.sim.password_grant()
        self.assertEqual(body["expires_in"], 0)
        time.sleep(0.7)   # past the lifetime; the token can only be dead
        resp = self.sim.get("/rest/v1/bill-items", body["access_token"])
        self.assertEqual(resp.status, 401)
        self.assertIn("expired", resp.json["error"])
        self.assertIn("Bearer", resp.header("WWW-Authenticate"))
        # the refresh token outlives the access token
        self.assertEqual(self.refresh(body["refresh_token"]).status, 200)

    def test_admin_can_expire_every_access_token(self):
        token = self.sim.token()
        self.assertEqual(self.sim.get("/rest/v1/bill-items", token).status,
                         200)
        self.assertGreaterEqual(
            self.sim.admin("POST", "tokens/expire")["expired"], 1)
        self.assertEqual(self.sim.get("/rest/v1/bill-items", token).status,
                         401)

    def test_api_without_or_with_a_bad_token_is_401(self):
        self.assertEqual(self.sim.request("GET", "/rest/v1/clients").status,
                         401)
        self.assertEqual(self.sim.get("/rest/v1/clients", "x.y.z").status,
                         401)

    def test_repeated_failed_logins_lock_the_token_endpoint(self):
        self.sim.admin("POST", "config", {"auth_lockout_failures": 3})
        for _ in range(3):
            self.assertEqual(self.sim.token_response(
                grant_type="password", username="api", password="bad",
                **CLIENT).status, 400)
        locked = self.sim.token_response(grant_type="password", **CLIENT,
                                         **USER)
        self.assertEqual(locked.status, 403)
        self.sim.admin("POST", "reset")
        self.assertEqual(self.sim.token_response(
            grant_type="password", **CLIENT, **USER).status, 200)


if __name__ == "__main__":
    unittest.main()
