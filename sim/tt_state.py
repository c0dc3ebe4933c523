"""Run-time state of the simulator besides tenant data: configuration,
the request budget (429), fault rules and the admin snapshot.  SimState
gathers the API's behaviour from its parts: OAuth2 (tt_oauth), REST
reads (tt_rest), billing items (tt_billing), subscriptions
(tt_subscriptions)."""

import collections
import math
import random
import secrets
import time

from tt_billing import BillingItems
from tt_errors import ApiError
from tt_oauth import OAuthTokens
from tt_rest import RestQueries
from tt_subscriptions import Subscriptions
from tt_tenant import iso

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
    "deliver_drop": 0,
}

CONFIG_TYPES = {k: type(v) for k, v in DEFAULTS.items()}
CONFIG_TYPES.update({"deliver_url": str, "secret_file": str,
                     "rate_limit_requests": int, "deliver_retries": int,
                     "deliver_concurrency": int, "deliver_drop": int,
                     "auth_lockout_failures": int})
CONFIG_CHOICES = {"item_envelope": ("data", "bare"),
                  "deliver_envelope": ("bare", "data", "list")}

FAULT_KINDS = ("status", "drop", "drop_after", "delay", "timeout",
               "mislabel", "body")


class SimState(OAuthTokens, RestQueries, BillingItems, Subscriptions):
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
                 "method": rule.get("method"), "fired": 0, "seen": 0}
            for key, cast in (("count", int), ("status", int),
                              ("seconds", float), ("probability", float),
                              ("retryAfter", int), ("after", int),
                              ("query", str), ("body", str)):
                if key in rule and rule[key] is not None:
                    try:
                        r[key] = cast(rule[key])
                    except (TypeError, ValueError):
                        raise ApiError(400, "bad %s in fault rule" % key)
            r["apply"] = bool(rule.get("apply", False))
            r.setdefault("status", 200 if kind == "body" else 500)
            if kind == "delay" and "seconds" not in r:
                raise ApiError(400, "a delay fault needs seconds")
            if kind == "body" and "body" not in r:
                raise ApiError(400, "a body fault needs body")
            checked.append(r)
        with self.lock:
            if replace:
                self.faults = []
            self.faults.extend(checked)
            return list(self.faults)

    def match_fault(self, method, path, query=""):
        with self.lock:
            for rule in self.faults:
                if rule["method"] and rule["method"].upper() != method:
                    continue
                if not path.startswith(rule["path"]):
                    continue
                if "query" in rule and rule["query"] not in query:
                    continue
                rule["seen"] += 1
                if rule["seen"] <= rule.get("after", 0):
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
