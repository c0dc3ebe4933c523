"""HTTP side of the simulator: OAuth2 token endpoint, REST v1 resources,
billing ad-hoc items, request budget (429), gateway timeout (504), fault
injection and the /__sim admin API."""

import base64
import calendar
import collections
import datetime
import hashlib
import hmac
import json
import math
import random
import re
import secrets
import socket
import struct
import sys
import time
import traceback
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import tt_tenant
from tt_http import php_json
from tt_tenant import DATE_FIELDS, DATETIME_FIELDS, L, R, SPECS, UTC, iso

CLIENT_ID = "demo"
CLIENT_SECRET = "demo-secret"
API_USER = "api"
API_PASSWORD = "api-password"
API_USER_ID = 1000

DEFAULTS = {
    "access_token_ttl": 3600.0,
    "refresh_token_ttl": 30 * 86400.0,
    "revoke_access_on_refresh": True,
    "rate_limit_requests": 3000,
    "rate_limit_window": 60.0,
    "gateway_timeout": 30.0,
    "auth_lockout_failures": 40,
    "auth_lockout_window": 120.0,
    "auth_lockout_duration": 7200.0,
    "item_envelope": "data",
    "deliver_url": None,
    "deliver_rate": 1.0,
    "redeliver_ratio": 0.1,
    "update_ratio": 0.15,
    "deliver_include": "reportFields,reportTemplate,account,position,"
                       "reportFlag,createdOn,updatedOn",
    "deliver_envelope": "bare",
    "deliver_timeout": 10.0,
    "deliver_retries": 5,
    "deliver_concurrency": 1,
    "deliver_paused": False,
    "secret_header": "TrackTik-Subscription-Secret",
    "secret_file": None,
}

CONFIG_TYPES = {k: type(v) for k, v in DEFAULTS.items()}
CONFIG_TYPES.update({"deliver_url": str, "secret_file": str,
                     "rate_limit_requests": int, "deliver_retries": int,
                     "deliver_concurrency": int,
                     "auth_lockout_failures": int})
CONFIG_CHOICES = {"item_envelope": ("data", "bare"),
                  "deliver_envelope": ("bare", "data", "list")}

MAX_BODY = 8 * 1024 * 1024

FAULT_KINDS = ("status", "drop", "drop_after", "delay", "timeout",
               "mislabel")

REPORT_REQUIRED_FILTERS = {"reportDateTime", "submittedOn", "position",
                           "approvedOn", "id"}
INACTIVE = {"INACTIVE", "CLOSED", "DISABLED", "CANCELLED"}
CONTROL_PARAMS = {"limit", "offset", "include", "sort", "fields",
                  "includeInactive", "scope", "q", "idIn"}
FILTER_OPS = {"", "not", "in", "gt", "gte", "lt", "lte", "contains",
              "startswith", "endswith", "isnull", "isnotnull", "between",
              "before", "after", "inset"}


class ApiError(Exception):
    def __init__(self, status, message, headers=None):
        Exception.__init__(self, message)
        self.status = status
        self.message = message
        self.headers = headers or {}


class OAuthError(Exception):
    def __init__(self, status, error, description, hint=None):
        Exception.__init__(self, description)
        self.status = status
        self.error = error
        self.description = description
        self.hint = hint

    def body(self):
        out = {"error": self.error, "error_description": self.description,
               "message": self.description}
        if self.hint:
            out["hint"] = self.hint
        return out


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


# -- dates in filters --------------------------------------------------

def parse_when(text):
    """A filter date as TrackTik accepts it -> (aware datetime, date_only).
    Naive values are taken as UTC."""
    t = text.strip()
    low = t.lower()
    today = datetime.datetime.now(UTC).replace(hour=0, minute=0, second=0,
                                               microsecond=0)
    if low == "now":
        return datetime.datetime.now(UTC).replace(microsecond=0), False
    rel = {"today": 0, "yesterday": -1, "tomorrow": 1}
    if low in rel:
        return today + datetime.timedelta(days=rel[low]), True
    if re.fullmatch(r"\d{9,11}", t):
        return datetime.datetime.fromtimestamp(int(t), UTC), False
    for fmt, date_only in (("%Y-%m-%d", True), ("%m/%d/%Y", True),
                           ("%d-%m-%Y", True), ("%Y-%m-%d %H:%M:%S", False),
                           ("%Y-%m-%d %H:%M", False)):
        try:
            return datetime.datetime.strptime(t, fmt).replace(
                tzinfo=UTC), date_only
        except ValueError:
            pass
    try:
        dt = datetime.datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, "Invalid date value: %s" % text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC), False


def add_month(dt):
    year, month = (dt.year + 1, 1) if dt.month == 12 else (dt.year,
                                                            dt.month + 1)
    day = min(dt.day, calendar.monthrange(year, month)[1])
    return dt.replace(year=year, month=month, day=day)


def end_of(dt, date_only):
    if date_only:
        return dt + datetime.timedelta(days=1, microseconds=-1)
    return dt


# -- a tiny PNG for report photos ----------------------------------------

def make_png(seed, width=48, height=32):
    rng = random.Random(seed)
    base = [rng.randint(40, 215) for _ in range(3)]
    rows = b""
    for y in range(height):
        row = bytearray([0])
        for x in range(width):
            row += bytes(((base[0] + x * 3) % 256, (base[1] + y * 5) % 256,
                          base[2]))
        rows += bytes(row)

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))
    return (b"\x89PNG\r\n\x1a\n" +
            chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0,
                                       0, 0)) +
            chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


class SimState:
    """Tokens, counters, the request budget, faults: everything that
    changes at run time besides tenant data."""

    def __init__(self, tenant, config):
        self.tenant = tenant
        self.lock = tenant.lock
        self.config = dict(DEFAULTS)
        self.config.update(config)
        self.jwt_key = secrets.token_bytes(32)
        self.fault_rng = random.Random(tenant.seed + 17)
        self.deliverer = None
        self.started = time.time()
        self.reset()

    def reset(self):
        with self.lock:
            self.access = {}      # token -> {"exp", "revoked"}
            self.refresh = {}     # token -> {"exp", "used", "access"}
            self.counters = collections.Counter()
            self.requests = collections.Counter()
            self.responses = collections.Counter()
            self.window = collections.deque()
            self.auth_failures = collections.deque()
            self.blocked_until = 0.0
            self.faults = []
            self.tenant.tables["billing-adhoc-items"].clear()
            self.tenant.tables["events-subscriptions"].clear()

    def set_config(self, updates):
        with self.lock:
            for key, value in updates.items():
                if key not in DEFAULTS:
                    raise ApiError(400, "unknown config key: %s" % key)
                want = CONFIG_TYPES[key]
                if value is None and key in ("deliver_url", "secret_file"):
                    self.config[key] = None
                    continue
                try:
                    if want is bool:
                        if not isinstance(value, bool):
                            raise ValueError
                    elif want is float:
                        value = float(value)
                        if value < 0:
                            raise ValueError
                    elif want is int:
                        if isinstance(value, bool) or int(value) != value:
                            raise ValueError
                        value = int(value)
                        if value < 0:
                            raise ValueError
                    elif not isinstance(value, str):
                        raise ValueError
                except (TypeError, ValueError):
                    raise ApiError(400, "bad value for %s" % key)
                if key in CONFIG_CHOICES and value not in CONFIG_CHOICES[key]:
                    raise ApiError(400, "%s must be one of %s" % (
                        key, ", ".join(CONFIG_CHOICES[key])))
                if key.startswith("rate_limit_") and \
                        self.config[key] != value:
                    self.window.clear()     # a new budget starts afresh
                self.config[key] = value

    def public_config(self):
        return dict(self.config)

    # -- request budget --------------------------------------------------

    def take_budget(self):
        """None when the request may go on, else the Retry-After seconds."""
        now = time.monotonic()
        with self.lock:
            window = self.config["rate_limit_window"]
            limit = self.config["rate_limit_requests"]
            while self.window and self.window[0] <= now - window:
                self.window.popleft()
            if limit and len(self.window) >= limit:
                return max(1, int(math.ceil(self.window[0] + window - now)))
            self.window.append(now)
            return None

    # -- faults ------------------------------------------------------------

    def add_faults(self, rules, replace=False):
        checked = []
        for rule in rules:
            if not isinstance(rule, dict):
                raise ApiError(400, "a fault rule is a JSON object")
            kind = rule.get("kind")
            if kind not in FAULT_KINDS:
                raise ApiError(400, "fault kind must be one of %s" %
                               ", ".join(FAULT_KINDS))
            r = {"kind": kind, "path": str(rule.get("path", "/rest/")),
                 "method": rule.get("method"), "fired": 0}
            for key, cast in (("count", int), ("status", int),
                              ("seconds", float), ("probability", float),
                              ("retryAfter", int)):
                if key in rule and rule[key] is not None:
                    try:
                        r[key] = cast(rule[key])
                    except (TypeError, ValueError):
                        raise ApiError(400, "bad %s in fault rule" % key)
            r["apply"] = bool(rule.get("apply", False))
            r.setdefault("status", 500)
            if kind == "delay" and "seconds" not in r:
                raise ApiError(400, "a delay fault needs seconds")
            checked.append(r)
        with self.lock:
            if replace:
                self.faults = []
            self.faults.extend(checked)
            return list(self.faults)

    def match_fault(self, method, path):
        with self.lock:
            for rule in self.faults:
                if rule["method"] and rule["method"].upper() != method:
                    continue
                if not path.startswith(rule["path"]):
                    continue
                if "count" in rule and rule["fired"] >= rule["count"]:
                    continue
                if "probability" in rule and \
                        self.fault_rng.random() >= rule["probability"]:
                    continue
                rule["fired"] += 1
                self.counters["faults." + rule["kind"]] += 1
                return dict(rule)
            return None

    # -- OAuth2 ----------------------------------------------------------

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

    # -- REST --------------------------------------------------------------

    def _raw(self, res, obj, field):
        """The value a filter or sort sees: relations as ids, dotted names
        looked up on the related object."""
        spec = dict(SPECS[res])
        if "." in field:
            head, _, rest = field.partition(".")
            kind = spec.get(head)
            if not isinstance(kind, R):
                raise ApiError(400, "Invalid filter: %s" % field)
            if rest == "id":
                return obj.get(head)
            target = self.tenant.get(kind.target, obj.get(head))
            if kind.target not in SPECS or \
                    rest not in dict(SPECS[kind.target]):
                raise ApiError(400, "Invalid filter: %s" % field)
            return None if target is None else target.get(rest)
        kind = spec.get(field)
        if kind is None or isinstance(kind, L):
            raise ApiError(400, "Invalid filter: %s" % field)
        return obj.get(field)

    def _filter(self, res, objs, field, op, value):
        base = field.split(".")[-1]
        self._check_field(res, field)     # even when nothing is left
        if op not in FILTER_OPS:
            raise ApiError(400, "Invalid filter operator: %s:%s" % (field, op))
        if op == "in" and len(value.split(",")) > 100:
            raise ApiError(400, "The pseudo filter :in accepts at most 100 "
                           "values (%s)" % field)
        is_dt = base in DATETIME_FIELDS and "." not in field
        is_date = base in DATE_FIELDS and "." not in field
        spec = dict(SPECS[res])
        is_rel = isinstance(spec.get(field.split(".")[0]), R) and \
            (field.endswith(".id") or "." not in field)
        if op == "between":
            parts = value.split("|")
            if len(parts) != 2:
                raise ApiError(400, "The pseudo filter :between takes two "
                               "values separated by | (%s)" % field)
            if is_dt or is_date:
                (lo, _), (hi, hi_date) = parse_when(parts[0]), \
                    parse_when(parts[1])
                if hi < lo:
                    raise ApiError(400, "Invalid range for %s:between" % field)
                if is_dt and hi > add_month(lo):
                    raise ApiError(400, "The maximum range for the :between "
                                   "pseudo filter on %s is 1 month" % field)
                hi = end_of(hi, hi_date)
        if is_dt or is_date:
            def conv(raw):
                if is_dt:
                    return datetime.datetime.strptime(
                        raw, "%Y-%m-%dT%H:%M:%S+00:00").replace(tzinfo=UTC)
                return datetime.datetime.strptime(raw, "%Y-%m-%d").replace(
                    tzinfo=UTC)
        else:
            conv = None
        numeric = field == "id" or is_rel
        out = []
        for obj in objs:
            raw = self._raw(res, obj, field)
            if op == "isnull":
                if raw is None or raw == "":
                    out.append(obj)
                continue
            if op == "isnotnull":
                if raw is not None and raw != "":
                    out.append(obj)
                continue
            if raw is None:
                if op == "not":
                    out.append(obj)
                continue
            if conv:
                have = conv(raw)
                if op == "between":
                    ok = lo <= have <= hi
                else:
                    want, date_only = parse_when(value) if op != "in" else \
                        (None, False)
                    if op == "":
                        ok = (want <= have <= end_of(want, date_only))
                    elif op == "not":
                        ok = not (want <= have <= end_of(want, date_only))
                    elif op in ("gt", "after"):
                        ok = have > end_of(want, date_only)
                    elif op == "gte":
                        ok = have >= want
                    elif op in ("lt", "before"):
                        ok = have < want
                    elif op == "lte":
                        ok = have <= end_of(want, date_only)
                    else:
                        raise ApiError(400, "Invalid filter operator for a "
                                       "date: %s:%s" % (field, op))
                if ok:
                    out.append(obj)
                continue
            if numeric or isinstance(raw, (int, float)) and \
                    not isinstance(raw, bool):
                def num(v):
                    try:
                        return float(v)
                    except ValueError:
                        raise ApiError(400, "Invalid number for %s: %s" %
                                       (field, v))
                have = float(raw)
                if op == "in":
                    ok = have in [num(v) for v in value.split(",")]
                elif op == "between":
                    ok = num(parts[0]) <= have <= num(parts[1])
                elif op in ("contains", "startswith", "endswith", "inset"):
                    ok = self._text_op(op, str(raw), value)
                else:
                    want = num(value)
                    ok = {"": have == want, "not": have != want,
                          "gt": have > want, "gte": have >= want,
                          "lt": have < want, "lte": have <= want,
                          "before": have < want, "after": have > want}[op]
                if ok:
                    out.append(obj)
                continue
            if isinstance(raw, bool):
                raw = "true" if raw else "false"
                value_n = {"1": "true", "0": "false"}.get(value.lower(),
                                                          value.lower())
            else:
                value_n = value
            if isinstance(raw, list):
                raw = ",".join(raw)
            if self._text_op(op, str(raw), value_n):
                out.append(obj)
        return out

    @staticmethod
    def _text_op(op, raw, value):
        a, b = raw.casefold(), value.casefold()
        if op == "":
            return a == b
        if op == "not":
            return a != b
        if op == "in":
            return a in [v.casefold() for v in value.split(",")]
        if op == "contains":
            return b in a
        if op == "startswith":
            return a.startswith(b)
        if op == "endswith":
            return a.endswith(b)
        if op == "inset":
            have = {x.strip() for x in a.split(",")}
            if "|" in b:
                return any(x in have for x in b.split("|"))
            return all(x in have for x in b.split(","))
        if op in ("gt", "after"):
            return a > b
        if op == "gte":
            return a >= b
        if op in ("lt", "before"):
            return a < b
        if op == "lte":
            return a <= b
        raise ApiError(400, "Invalid filter operator: %s" % op)

    def list_items(self, res, params):
        """GET /rest/v1/{res}: the meta/data envelope."""
        single = {}
        filters = []
        for key, value in params:
            if key in CONTROL_PARAMS:
                single[key] = value
            else:
                field, _, op = key.partition(":")
                filters.append((field, op.lower(), value))
        limit = single.get("limit", "100")
        offset = single.get("offset", "0")
        if not re.fullmatch(r"\d+", limit) or int(limit) < 1:
            raise ApiError(400, "Invalid limit: %s" % limit)
        if not re.fullmatch(r"\d+", offset):
            raise ApiError(400, "Invalid offset: %s" % offset)
        limit, offset = min(int(limit), 1000), int(offset)
        includes = [i.strip() for i in single.get("include", "").split(",")
                    if i.strip()]
        fields = [f.strip() for f in single.get("fields", "").split(",")
                  if f.strip()]
        scope = single.get("scope")
        if "idIn" in single:
            filters.append(("id", "in", single["idIn"]))
        if res == "reports" and not scope and not any(
                f.split(".")[0] in REPORT_REQUIRED_FILTERS
                for f, _, _ in filters):
            raise ApiError(400, "At least one of the filters (on properties "
                           "or scope) is required: reportDateTime, "
                           "submittedOn, position, approvedOn, id")
        try:
            self.tenant.check_includes(res, includes + [
                f.split(":")[0] for f in fields if f.split(":")[0] in
                dict(SPECS[res])])
        except ValueError as e:
            raise ApiError(400, str(e))
        with self.lock:
            objs = list(self.tenant.table(res).values())
            if scope:
                for name in re.split(r"[,|]", scope):
                    if not (res == "reports" and name == "HAS_INCIDENT"):
                        raise ApiError(400, "Invalid scope: %s" % name)
                objs = [o for o in objs if o.get("reportFlag")]
            explicit_status = any(f == "status" for f, _, _ in filters)
            if single.get("includeInactive", "").lower() not in ("true", "1") \
                    and not explicit_status and res != "reports":
                objs = [o for o in objs if o.get("status") not in INACTIVE]
            for field, op, value in filters:
                objs = self._filter(res, objs, field, op, value)
            if "q" in single:
                q = single["q"].casefold()
                objs = [o for o in objs if any(
                    isinstance(v, str) and q in v.casefold()
                    for k, v in o.items() if not k.startswith("_"))]
            objs.sort(key=lambda o: o["id"])
            for key in reversed([s.strip() for s in
                                 single.get("sort", "").split(",")
                                 if s.strip()]):
                desc = key.startswith("-")
                name = key.lstrip("-+")
                self._check_field(res, name)
                objs.sort(key=lambda o: self._sort_key(res, o, name),
                          reverse=desc)
            page = objs[offset:offset + limit]
            data = [self.shape(res, o, includes, fields) for o in page]
        return {"meta": {"count": len(objs), "request": [res],
                         "itemCount": len(data),
                         "security": self._security(res),
                         "debug": None, "resource": res,
                         "limit": limit, "offset": offset},
                "data": data}

    def _check_field(self, res, name):
        self._raw(res, {}, name)

    def _sort_key(self, res, obj, name):
        v = self._raw(res, obj, name)
        if v is None:
            return (0, "")
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return (1, v)
        return (2, str(v))

    @staticmethod
    def _security(res):
        return {"granted": True, "requested": "admin:%s:view" % res,
                "grantedBy": "admin:*", "scope": None}

    def shape(self, res, obj, includes, fields):
        top = [f.split(":")[0] for f in fields]
        out = self.tenant.render(res, obj, list(includes) + [
            t for t in top if t in dict(SPECS[res])])
        if not fields:
            return out
        shaped = {}
        for f in fields:
            name, _, alias = f.partition(":")
            if name in out:
                shaped[alias or name] = out[name]
        return shaped

    def get_item(self, res, oid, params):
        single = dict(params)
        includes = [i.strip() for i in single.get("include", "").split(",")
                    if i.strip()]
        fields = [f.strip() for f in single.get("fields", "").split(",")
                  if f.strip()]
        try:
            self.tenant.check_includes(res, includes)
        except ValueError as e:
            raise ApiError(400, str(e))
        with self.lock:
            obj = self.tenant.get(res, oid)
            if obj is None:
                raise ApiError(404, "Not found: %s %s" % (res, oid))
            item = self.shape(res, obj, includes, fields)
        return self.envelope(res, item)

    def envelope(self, res, item):
        if self.config["item_envelope"] == "bare":
            return item
        return {"meta": {"request": [res, str(item.get("id", ""))],
                         "security": self._security(res), "debug": None,
                         "resource": res},
                "data": item}

    def create_adhoc_item(self, body):
        if not isinstance(body, dict):
            raise ApiError(400, "The request body must be a JSON object")
        for key in ("price", "quantity", "serviceDate", "description",
                    "account", "contract", "billItem"):
            if body.get(key) is None or body.get(key) == "":
                raise ApiError(400, "Validation failed: `%s` is required"
                               % key)

        def number(key):
            v = body[key]
            if isinstance(v, bool):
                raise ApiError(400, "Validation failed: `%s` must be a "
                               "number" % key)
            if isinstance(v, (int, float)):
                return v
            try:
                f = float(v)
            except (TypeError, ValueError):
                raise ApiError(400, "Validation failed: `%s` must be a "
                               "number" % key)
            if not math.isfinite(f):
                raise ApiError(400, "Validation failed: `%s` must be a "
                               "number" % key)
            return int(f) if f == int(f) and "." not in str(v) else f

        def ref(key, res):
            v = body[key]
            if isinstance(v, bool) or not re.fullmatch(r"\d+", str(v)):
                raise ApiError(400, "Validation failed: `%s` must be an id"
                               % key)
            if self.tenant.get(res, int(v)) is None:
                raise ApiError(400, "Validation failed: `%s` %s does not "
                               "exist" % (key, v))
            return int(v)
        price, quantity = number("price"), number("quantity")
        date = body["serviceDate"]
        try:
            datetime.datetime.strptime(str(date), "%Y-%m-%d")
        except ValueError:
            raise ApiError(400, "Validation failed: `serviceDate` must be a "
                           "date (YYYY-MM-DD)")
        if not isinstance(body["description"], str):
            raise ApiError(400, "Validation failed: `description` must be "
                           "a string")
        with self.lock:
            item = {"status": "NOT_PROCESSED", "price": price,
                    "quantity": quantity, "serviceDate": str(date),
                    "description": body["description"],
                    "account": ref("account", "clients"),
                    "contract": ref("contract", "contracts"),
                    "billItem": ref("billItem", "bill-items")}
            if body.get("taxClass") not in (None, ""):
                if not re.fullmatch(r"\d+", str(body["taxClass"])):
                    raise ApiError(400, "Validation failed: `taxClass` must "
                                   "be an id")
                item["taxClass"] = int(body["taxClass"])
            now = iso(datetime.datetime.now(UTC))
            item.update({"createdBy": API_USER_ID, "createdOn": now,
                         "updatedBy": API_USER_ID, "updatedOn": now})
            item = self.tenant.add("billing-adhoc-items", item, 60001)
            self.counters["billing.created"] += 1
            return self.envelope("billing-adhoc-items", self.tenant.render(
                "billing-adhoc-items", item))

    def create_subscription(self, body):
        """POST /rest/v1/events-subscriptions (EventsSubscriptionsPost)."""
        if not isinstance(body, dict):
            raise ApiError(400, "The request body must be a JSON object")
        for key in ("customId", "name", "events", "url", "secretHeaderName",
                    "secret"):
            if body.get(key) in (None, "", []):
                raise ApiError(400, "Validation failed: `%s` is required"
                               % key)
        for key in ("customId", "name", "url", "secretHeaderName", "secret"):
            if not isinstance(body[key], str):
                raise ApiError(400, "Validation failed: `%s` must be a "
                               "string" % key)
        events = body["events"]
        if not isinstance(events, list) or not all(
                isinstance(e, str) and
                re.fullmatch(r"[a-z]+:[a-z-]+:[a-z-]+", e) for e in events):
            raise ApiError(400, "Validation failed: `events` is a list of "
                           "domain:entity:trigger names")
        if len({e.split(":")[1] for e in events}) != 1:
            raise ApiError(400, "Validation failed: all events should be "
                           "for the same resource")
        if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", body["url"]):
            raise ApiError(400, "Validation failed: `url` must be an http(s) "
                           "URL")
        if not re.fullmatch(r"[A-Za-z0-9-]+", body["secretHeaderName"]):
            raise ApiError(400, "Validation failed: `secretHeaderName` must "
                           "be a header name without spaces")
        shape = body.get("entityResponse")
        if shape is not None:
            if not isinstance(shape, dict) or not all(
                    isinstance(shape.get(k, []), list) and
                    all(isinstance(x, str) for x in shape.get(k, []))
                    for k in ("fields", "include")):
                raise ApiError(400, "Validation failed: `entityResponse` is "
                               "{\"fields\": [...], \"include\": [...]}")
            if events[0].split(":")[1] == "reports":
                try:
                    self.tenant.check_includes("reports",
                                               shape.get("include", []))
                except ValueError as e:
                    raise ApiError(400, "Validation failed: entityResponse: "
                                   "%s" % e)
        with self.lock:
            now = iso(datetime.datetime.now(UTC))
            sub = {"customId": body["customId"], "name": body["name"],
                   "events": list(events), "url": body["url"],
                   "createdBy": API_USER_ID, "createdOn": now,
                   "updatedBy": API_USER_ID, "updatedOn": now,
                   "_secret": body["secret"],
                   "_secretHeaderName": body["secretHeaderName"],
                   "_status": "active"}
            for key in ("entityResponse", "contextFilters",
                        "userDefinedFilters"):
                if isinstance(body.get(key), dict):
                    sub[key] = body[key]
            if isinstance(body.get("failureEmail"), str) and \
                    "@" in body["failureEmail"]:
                sub["failureEmail"] = body["failureEmail"]
            sub = self.tenant.add("events-subscriptions", sub, 1)
            self.counters["subscriptions.created"] += 1
            item = self.tenant.render("events-subscriptions", sub)
        if self.deliverer is not None:
            self.deliverer.wake()
        return self.envelope("events-subscriptions", item)

    def subscription_action(self, sub_id, action, body):
        """POST /rest/v1/events-subscriptions/{id}/actions/{action}."""
        with self.lock:
            sub = self.tenant.get("events-subscriptions", sub_id)
            if sub is None:
                raise ApiError(404, "Not found: events-subscriptions %s"
                               % sub_id)
            if action == "suspend":
                if not isinstance(body, dict) or not body.get("reason"):
                    raise ApiError(400, "Validation failed: `reason` is "
                                   "required")
                if sub["_status"] == "archived":
                    raise ApiError(400, "The subscription is archived")
                sub["_status"] = "suspended"
            elif action == "enable":
                if sub["_status"] == "archived":
                    raise ApiError(400, "The subscription is archived")
                sub["_status"] = "active"
            elif action == "archive":
                sub["_status"] = "archived"
            else:
                raise ApiError(404, "Unknown action: %s" % action)
            sub["updatedOn"] = iso(datetime.datetime.now(UTC))
            item = self.tenant.render("events-subscriptions", sub)
        if self.deliverer is not None:
            self.deliverer.wake()
        return self.envelope("events-subscriptions", item)

    def snapshot(self):
        with self.lock:
            items = list(self.tenant.table("billing-adhoc-items").values())
            descs = collections.Counter(i["description"] for i in items)
            now = time.time()
            state = {
                "uptime": round(time.time() - self.started, 3),
                "seed": self.tenant.seed,
                "anchor": iso(self.tenant.anchor),
                "config": self.public_config(),
                "counters": dict(self.counters),
                "requests": dict(self.requests),
                "responses": dict(self.responses),
                "tokens": {
                    "access_valid": sum(1 for e in self.access.values()
                                        if not e["revoked"] and
                                        e["exp"] > now),
                    "access_issued": len(self.access),
                    "refresh_unused": sum(1 for e in self.refresh.values()
                                          if not e["used"]),
                    "refresh_used": sum(1 for e in self.refresh.values()
                                        if e["used"])},
                "rateLimit": {"used": len(self.window),
                              "limit": self.config["rate_limit_requests"],
                              "window": self.config["rate_limit_window"]},
                "faults": list(self.faults),
                "billingAdhocItems": {
                    "count": len(items),
                    "duplicateDescriptions": sum(
                        n - 1 for n in descs.values() if n > 1)},
                "tenant": {
                    "clients": [c["id"] for c in
                                self.tenant.table("clients").values()
                                if "parentClient" not in c],
                    "sites": list(self.tenant.sites),
                    "reports": len(self.tenant.table("reports")),
                    "reportIdRange": [min(self.tenant.table("reports")),
                                      max(self.tenant.table("reports"))],
                    "reportFlags": {f["name"]: f["id"] for f in
                                    self.tenant.table("report-flags").values()},
                    "billItems": {b["customId"]: b["id"] for b in
                                  self.tenant.table("bill-items").values()}},
            }
            if self.deliverer is not None:
                state["deliveries"] = self.deliverer.summary()
            return state


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "tracktik-sim/1.0"

    def version_string(self):
        return self.server_version

    # -- plumbing ------------------------------------------------------

    def log_message(self, fmt, *args):
        if not self.server.quiet:
            sys.stderr.write("tracktik-sim: %s %s\n" % (
                self.address_string(), fmt % args))

    def log_request(self, code="-", size="-"):
        path = self.path.split("?", 1)[0]
        if path.startswith("/rest/"):
            route = re.sub(r"/\d+(?=/|$)", "/{id}", path)
            st = self.server.state
            with st.lock:
                st.responses["%s %s %s" % (self.command, route,
                                           getattr(code, "value", code))] += 1
        if not self.server.quiet:
            sys.stderr.write("tracktik-sim: %s %s %s\n" % (
                self.command, path, code))

    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                if len(data) > MAX_BODY:
                    raise OverflowError(len(data))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise OverflowError(length)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, status, body, ctype="application/json", headers=None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _api(self, status, obj, headers=None):
        self._send(status, php_json(obj), headers=headers)

    def _admin(self, status, obj):
        self._send(status, json.dumps(obj, indent=1).encode() + b"\n")

    def _drop(self):
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def do_GET(self):
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    # -- dispatch ------------------------------------------------------

    def _handle(self):
        try:
            self._dispatch()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception:      # a simulator bug: say so, keep serving
            traceback.print_exc(file=sys.stderr)
            self.close_connection = True
            try:
                self._api(500, {"status": 500,
                                "error": "Internal Server Error"})
            except OSError:
                pass

    def _dispatch(self):
        st = self.server.state
        url = urlsplit(self.path)
        path = url.path
        try:
            body = self._read_body()
        except OverflowError:
            self.close_connection = True
            return self._api(413, {"status": 413,
                                   "error": "Request Entity Too Large"})
        except (ValueError, OSError):
            self.close_connection = True
            return self._api(400, {"status": 400,
                                   "error": "Malformed request body"})
        if path.startswith("/__sim/") or path == "/__sim":
            return self._admin_route(path, url.query, body)
        if path.startswith("/uploads/report-photos/"):
            return self._photo(path)
        if not path.startswith("/rest/"):
            return self._api(404, {"status": 404, "error": "Not Found"})
        method = self.command
        route = re.sub(r"/\d+(?=/|$)", "/{id}", path)
        with st.lock:
            st.requests["%s %s" % (method, route)] += 1
            st.counters["requests"] += 1
        wait = st.take_budget()
        if wait is not None:
            with st.lock:
                st.counters["http.429"] += 1
            return self._api(429, {"status": 429, "error": "Too Many "
                                   "Requests: the request budget of this "
                                   "window is spent"},
                             {"Retry-After": str(wait)})
        fault = st.match_fault(method, path)
        apply_after = None
        if fault:
            kind = fault["kind"]
            if kind == "drop":
                return self._drop()
            if kind == "status":
                headers = {}
                if "retryAfter" in fault:
                    headers["Retry-After"] = str(fault["retryAfter"])
                if fault.get("apply"):
                    apply_after = ("status", fault, headers)
                else:
                    return self._api(fault["status"], {
                        "status": fault["status"],
                        "error": "Simulated failure"}, headers)
            if kind == "delay":
                gt = st.config["gateway_timeout"]
                if fault["seconds"] >= gt:
                    time.sleep(gt)
                    return self._gateway_timeout()
                time.sleep(fault["seconds"])
            if kind == "timeout":
                if fault.get("apply"):
                    apply_after = ("timeout", fault, None)
                else:
                    time.sleep(st.config["gateway_timeout"])
                    return self._gateway_timeout()
            if kind == "drop_after":
                apply_after = ("drop", fault, None)
        status, obj, headers = self._route(method, path, url.query, body)
        if apply_after:
            what, fault, hdrs = apply_after
            if what == "drop":
                return self._drop()
            if what == "timeout":
                time.sleep(st.config["gateway_timeout"])
                return self._gateway_timeout()
            return self._api(fault["status"], {"status": fault["status"],
                                               "error": "Simulated failure"},
                             hdrs)
        self._api(status, obj, headers)

    def _gateway_timeout(self):
        with self.server.state.lock:
            self.server.state.counters["http.504"] += 1
        self._api(504, {"status": 504, "error": "Gateway Timeout: the API "
                        "call took longer than the gateway allows"})

    def _route(self, method, path, query, body):
        """-> (status, json object, headers) for /rest/ paths."""
        st = self.server.state
        try:
            if path in ("/rest/oauth2/access_token",
                        "/rest/v1/oauth2/access_token"):
                if method != "POST":
                    raise ApiError(405, "Method Not Allowed",
                                   {"Allow": "POST"})
                return self._token(body)
            if not path.startswith("/rest/v1/"):
                raise ApiError(404, "Not Found")
            st.check_access(self.headers.get("Authorization"))
            parts = [p for p in path[len("/rest/v1/"):].split("/") if p]
            if not parts or parts[0] not in tt_tenant.SERVED or \
                    len(parts) > 4 or len(parts) == 3:
                raise ApiError(404, "Not Found")
            res = parts[0]
            params = parse_qsl(query, keep_blank_values=True)
            if len(parts) == 4:
                if res != "events-subscriptions" or parts[2] != "actions" \
                        or not parts[1].isdigit():
                    raise ApiError(404, "Not Found")
                if method != "POST":
                    raise ApiError(405, "Method Not Allowed",
                                   {"Allow": "POST"})
                body_obj = self._parse_body(body) if body.strip() else {}
                return 200, st.subscription_action(int(parts[1]), parts[3],
                                                   body_obj), None
            if len(parts) == 2:
                if method not in ("GET", "HEAD"):
                    raise ApiError(405, "Method Not Allowed", {"Allow": "GET"})
                if not parts[1].isdigit():
                    raise ApiError(404, "Not Found")
                return 200, st.get_item(res, int(parts[1]), params), None
            if method == "POST" and res == "billing-adhoc-items":
                return 200, st.create_adhoc_item(self._parse_body(body)), None
            if method == "POST" and res == "events-subscriptions":
                return 200, st.create_subscription(self._parse_body(body)), \
                    None
            if method not in ("GET", "HEAD"):
                allow = "GET, POST" if res in ("billing-adhoc-items",
                                               "events-subscriptions") \
                    else "GET"
                raise ApiError(405, "Method Not Allowed", {"Allow": allow})
            return 200, st.list_items(res, params), None
        except ApiError as e:
            return e.status, {"status": e.status, "error": e.message}, \
                e.headers
        except OAuthError as e:
            return e.status, e.body(), {"Cache-Control": "no-store"}

    def _parse_body(self, body):
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip()
        if ctype == "application/x-www-form-urlencoded":
            return dict(parse_qsl(body.decode("utf-8", "replace"),
                                  keep_blank_values=True))
        try:
            return json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise ApiError(400, "The request body is not valid JSON")

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

    def _photo(self, path):
        m = re.fullmatch(r"/uploads/report-photos/(\d+)\.png", path)
        st = self.server.state
        with st.lock:
            st.requests["%s /uploads/report-photos/{id}.png"
                        % self.command] += 1
        # fault rules whose path starts with /uploads/ apply here too
        fault = st.match_fault(self.command, path)
        if fault and fault["kind"] in ("drop", "drop_after"):
            return self._drop()
        if fault and fault["kind"] == "status":
            return self._api(fault["status"], {"status": fault["status"],
                                               "error": "Simulated failure"})
        if fault and fault["kind"] == "mislabel":
            # a page that says it is a PNG, as a misconfigured or hostile
            # file server would send it
            return self._send(200, b"<html><script>alert(1)</script></html>",
                              "image/png", {})
        if not m or st.tenant.get("files", int(m.group(1))) is None:
            return self._api(404, {"status": 404, "error": "Not Found"})
        self._send(200, make_png(int(m.group(1))), "image/png",
                   {"Cache-Control": "max-age=86400"})

    # -- admin API -----------------------------------------------------

    def _admin_route(self, path, query, body):
        st = self.server.state
        method = self.command
        try:
            data = {}
            if method in ("POST", "PUT", "PATCH") and body.strip():
                try:
                    data = json.loads(body.decode("utf-8"))
                except (UnicodeDecodeError, ValueError):
                    raise ApiError(400, "admin bodies are JSON")
            if path == "/__sim/health":
                return self._admin(200, {"status": "ok"})
            if path == "/__sim/state" and method == "GET":
                return self._admin(200, st.snapshot())
            if path == "/__sim/config":
                if method in ("POST", "PUT", "PATCH"):
                    if not isinstance(data, dict):
                        raise ApiError(400, "config body is a JSON object")
                    st.set_config(data)
                    if st.deliverer is not None:
                        st.deliverer.wake()
                return self._admin(200, st.public_config())
            if path == "/__sim/faults":
                if method == "DELETE":
                    with st.lock:
                        st.faults = []
                    return self._admin(200, {"faults": []})
                if method in ("POST", "PUT"):
                    if isinstance(data, dict) and "rules" in data:
                        rules = data["rules"]
                        replace = bool(data.get("replace", method == "PUT"))
                    else:
                        rules, replace = [data], method == "PUT"
                    if not isinstance(rules, list):
                        raise ApiError(400, "rules is a list")
                    return self._admin(200, {"faults": st.add_faults(
                        rules, replace)})
                with st.lock:
                    return self._admin(200, {"faults": list(st.faults)})
            if path == "/__sim/reset" and method == "POST":
                st.reset()
                if st.deliverer is not None:
                    st.deliverer.reset()
                return self._admin(200, {"status": "reset"})
            m = re.fullmatch(r"/__sim/resources/report-template-fields/(\d+)",
                             path)
            if m and method == "PATCH":
                # test set-up: mark a template field confidential or
                # adminOnly, as an administrator would in TrackTik
                if not isinstance(data, dict) or not set(data) <= {
                        "confidential", "adminOnly"}:
                    raise ApiError(400, "only confidential and adminOnly "
                                   "can be changed")
                with st.lock:
                    field = st.tenant.get("report-template-fields",
                                          int(m.group(1)))
                    if field is None:
                        raise ApiError(404, "no such template field")
                    for key, value in data.items():
                        field[key] = bool(value)
                    return self._admin(200, dict(field))
            if path == "/__sim/tokens/expire" and method == "POST":
                return self._admin(200, {"expired": st.expire_access_tokens()})
            if path == "/__sim/deliver" and method == "POST":
                if st.deliverer is None:
                    raise ApiError(409, "delivery generator not running")
                if not isinstance(data, dict):
                    raise ApiError(400, "deliver body is a JSON object")
                try:
                    results = st.deliverer.deliver_now(
                        kind=data.get("kind", "new"),
                        count=int(data.get("count", 1)),
                        report=data.get("report"),
                        url=data.get("url"))
                except ValueError as e:
                    raise ApiError(400, str(e))
                return self._admin(200, {"deliveries": results})
            if path == "/__sim/deliveries" and method == "GET":
                if st.deliverer is None:
                    return self._admin(200, {"deliveries": []})
                q = dict(parse_qsl(query))
                return self._admin(200, {"deliveries": st.deliverer.log(
                    int(q.get("limit", 100)))})
            raise ApiError(404, "unknown admin endpoint %s %s" % (method,
                                                                  path))
        except ApiError as e:
            return self._admin(e.status, {"status": e.status,
                                          "error": e.message})


class SimServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, state, quiet=False):
        ThreadingHTTPServer.__init__(self, addr, Handler)
        self.state = state
        self.quiet = quiet
