"""OAuth2 as TrackTik's token endpoint does it: the password and
refresh_token grants, single-use refresh tokens, the lockout after
repeated failures, and the bearer check every REST call makes.
OAuthTokens is part of SimState; TokenRoute is part of the HTTP
Handler (POST /rest/oauth2/access_token)."""

import base64
import hashlib
import hmac
import json
import secrets
import time
from urllib.parse import parse_qsl

from tt_errors import ApiError, OAuthError

CLIENT_ID = "demo"
CLIENT_SECRET = "demo-secret"
API_USER = "api"
API_PASSWORD = "api-password"
API_USER_ID = 1000


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class OAuthTokens:
    """Token issue and checks; the state's lock, config and counters
    come from SimState."""

    def _auth_failed(self):
        now = time.monotonic()
        self.auth_failures.append(now)
        while self.auth_failures and \
                self.auth_failures[0] <= now - self.config["auth_lockout_window"]:
            self.auth_failures.popleft()
        limit = self.config["auth_lockout_failures"]
        if limit and len(self.auth_failures) >= limit:
            self.blocked_until = now + self.config["auth_lockout_duration"]
            self.counters["oauth.lockouts"] += 1

    def _issue(self, client_id):
        now = time.time()
        ttl = self.config["access_token_ttl"]
        header = {"typ": "JWT", "alg": "HS256", "kid": "tracktik-sim"}
        claims = {"aud": client_id, "jti": secrets.token_hex(40),
                  "iat": now, "nbf": now, "exp": int(now + ttl),
                  "sub": str(API_USER_ID), "iss": "tracktik-sim",
                  "scopes": ["all:read", "all:write"]}
        signing = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "." +
                   b64url(json.dumps(claims, separators=(",", ":")).encode()))
        sig = hmac.new(self.jwt_key, signing.encode(), hashlib.sha256).digest()
        access = signing + "." + b64url(sig)
        refresh = "def50200" + secrets.token_hex(160)
        self.access[access] = {"exp": now + ttl, "revoked": False}
        self.refresh[refresh] = {"exp": now + self.config["refresh_token_ttl"],
                                 "used": False, "access": access}
        return {"token_type": "Bearer", "expires_in": int(ttl),
                "access_token": access, "refresh_token": refresh}

    def token(self, params, basic):
        with self.lock:
            if time.monotonic() < self.blocked_until:
                self.counters["oauth.blocked"] += 1
                raise ApiError(403, "Too many failed authentication "
                               "attempts from this address; blocked")
            try:
                return self._token(params, basic)
            except OAuthError as e:
                self.counters["oauth.errors." + e.error] += 1
                if e.error in ("invalid_client", "invalid_grant"):
                    self._auth_failed()
                raise

    def _token(self, params, basic):
        grant = params.get("grant_type")
        if grant not in ("password", "refresh_token"):
            raise OAuthError(400, "unsupported_grant_type",
                             "The authorization grant type is not supported "
                             "by the authorization server.",
                             "Check that all required parameters have been "
                             "provided")
        client_id = params.get("client_id") or (basic or (None, None))[0]
        client_secret = params.get("client_secret") or \
            (basic or (None, None))[1]
        if not client_id:
            raise OAuthError(400, "invalid_request",
                             "The request is missing a required parameter, "
                             "includes an invalid parameter value, includes "
                             "a parameter more than once, or is otherwise "
                             "malformed.", "Check the `client_id` parameter")
        if not (hmac.compare_digest(str(client_id), CLIENT_ID) and
                hmac.compare_digest(str(client_secret or ""), CLIENT_SECRET)):
            raise OAuthError(401, "invalid_client",
                             "Client authentication failed")
        if grant == "password":
            for key in ("username", "password"):
                if not params.get(key):
                    raise OAuthError(400, "invalid_request",
                                     "The request is missing a required "
                                     "parameter, includes an invalid "
                                     "parameter value, includes a parameter "
                                     "more than once, or is otherwise "
                                     "malformed.",
                                     "Check the `%s` parameter" % key)
            if not (hmac.compare_digest(params["username"], API_USER) and
                    hmac.compare_digest(params["password"], API_PASSWORD)):
                raise OAuthError(400, "invalid_grant",
                                 "The user credentials were incorrect.")
            self.counters["oauth.password"] += 1
            return self._issue(client_id)
        token = params.get("refresh_token")
        if not token:
            raise OAuthError(400, "invalid_request",
                             "The request is missing a required parameter, "
                             "includes an invalid parameter value, includes "
                             "a parameter more than once, or is otherwise "
                             "malformed.",
                             "Check the `refresh_token` parameter")
        entry = self.refresh.get(token)
        if entry is None:
            raise OAuthError(400, "invalid_grant",
                             "The refresh token is invalid.",
                             "Cannot decrypt the refresh token")
        if entry["used"]:
            self.counters["oauth.refresh_reuse"] += 1
            raise OAuthError(400, "invalid_grant",
                             "The refresh token is invalid.",
                             "Token has been revoked")
        if entry["exp"] < time.time():
            raise OAuthError(400, "invalid_grant",
                             "The refresh token is invalid.",
                             "Token has expired")
        entry["used"] = True
        if self.config["revoke_access_on_refresh"]:
            old = self.access.get(entry["access"])
            if old:
                old["revoked"] = True
        self.counters["oauth.refresh_token"] += 1
        return self._issue(client_id)

    def check_access(self, header):
        if not header or not header.startswith("Bearer "):
            raise ApiError(401, "Unauthorized: an access token is required",
                           {"WWW-Authenticate": 'Bearer realm="TrackTik"'})
        token = header[7:].strip()
        with self.lock:
            entry = self.access.get(token)
            if entry is None:
                why = "the access token is invalid"
            elif entry["revoked"]:
                why = "the access token has been revoked"
            elif entry["exp"] <= time.time():
                why = "the access token has expired"
            else:
                return
            self.counters["auth.rejected"] += 1
        raise ApiError(401, "Unauthorized: %s" % why,
                       {"WWW-Authenticate": 'Bearer realm="TrackTik", '
                        'error="invalid_token"'})

    def expire_access_tokens(self):
        with self.lock:
            now = time.time()
            n = 0
            for entry in self.access.values():
                if entry["exp"] > now:
                    entry["exp"] = now
                    n += 1
            return n


class TokenRoute:
    """The token endpoint's request side: client credentials from Basic
    auth or the body, JSON or form parameters."""

    def _token(self, body):
        basic = None
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            try:
                user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
                basic = (user, pw)
            except (ValueError, UnicodeDecodeError):
                basic = None
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip()
        if ctype == "application/json":
            try:
                params = json.loads(body.decode("utf-8"))
                if not isinstance(params, dict):
                    raise ValueError
                params = {k: v for k, v in params.items()
                          if isinstance(v, str)}
            except (UnicodeDecodeError, ValueError):
                raise OAuthError(400, "invalid_request",
                                 "The request body is not valid JSON")
        else:
            params = dict(parse_qsl(body.decode("utf-8", "replace"),
                                    keep_blank_values=True))
        result = self.server.state.token(params, basic)
        return 200, result, {"Cache-Control": "no-store",
                             "Pragma": "no-cache"}
