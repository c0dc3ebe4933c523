"""Events Subscription deliveries: report entities POSTed to a webhook URL,
signed as TrackTik signs them (signature() below), including redeliveries
(the very same bytes) and updates (same id, later updatedOn, changed
content)."""

import collections
import datetime
import hashlib
import hmac
import heapq
import os
import random
import sys
import threading
import time
import http.client
import urllib.parse

from tt_http import php_json, read_secret
from tt_tenant import UTC, iso

RETRY_DELAYS = [1.0, 2.0, 5.0, 15.0, 60.0, 300.0]
RETRYABLE = {408, 429}


def signature(secret, body):
    """The TrackTik signature of a delivery: lowercase hex HMAC-SHA512 of
    the exact body bytes keyed with the subscription secret (bytes).  The
    scheme is described once, with vectors this function is tested
    against, in the repository's t/data/README.md and signatures.json."""
    return hmac.new(secret, body, hashlib.sha512).hexdigest()


class Deliverer:
    def __init__(self, state, seed, quiet=False):
        self.state = state
        self.tenant = state.tenant
        self.quiet = quiet
        self.rng = random.Random(seed * 31 + 5)
        self.cond = threading.Condition()
        self.stopped = False
        self.reset()
        state.deliverer = self

    def reset(self):
        with self.cond:
            self.sent_reports = []            # report ids delivered so far
            self.bodies = collections.deque(maxlen=500)   # (report id, bytes)
            self.last_body = {}
            self.retries = []                 # heap (due, seq, entry)
            self.entries = collections.deque(maxlen=2000)
            self.stats = collections.Counter()
            self.seq = 0
            self.inflight = 0

    # -- control -----------------------------------------------------------

    def start(self):
        t = threading.Thread(target=self._run, name="deliveries", daemon=True)
        t.start()
        return t

    def stop(self):
        with self.cond:
            self.stopped = True
            self.cond.notify_all()

    def wake(self):
        with self.cond:
            self.cond.notify_all()

    def summary(self):
        with self.cond:
            out = dict(self.stats)
            out["pendingRetries"] = len(self.retries)
            out["reportsDelivered"] = len(self.sent_reports)
            return out

    def log(self, limit=100):
        with self.cond:
            return list(self.entries)[-limit:]

    # -- the generator loop -------------------------------------------------

    def _run(self):
        next_at = time.monotonic()
        while True:
            subscribed = self.has_subscriptions()
            with self.cond:
                if self.stopped:
                    return
                cfg = self.state.config
                url, rate = cfg["deliver_url"], cfg["deliver_rate"]
                active = bool(url or subscribed) and rate > 0 and \
                    not cfg["deliver_paused"]
                now = time.monotonic()
                due_retry = self.retries and self.retries[0][0] <= now
                if not due_retry and (not active or now < next_at):
                    waits = [0.5]
                    if active:
                        waits.append(next_at - now)
                    if self.retries:
                        waits.append(self.retries[0][0] - now)
                    self.cond.wait(max(0.01, min(waits)))
                    if not active:
                        next_at = time.monotonic()
                    continue
                entry = heapq.heappop(self.retries)[2] if due_retry else None
            try:
                if entry is None:
                    entries = self._step()
                    next_at += 1.0 / rate
                    if next_at < time.monotonic() - 1.0:
                        next_at = time.monotonic()
                else:
                    entries = [entry]
                for e in entries:
                    self._dispatch(e)
            except Exception as e:     # keep generating whatever happens
                sys.stderr.write("tracktik-sim: delivery error: %s\n" % e)
                time.sleep(0.2)

    def _dispatch(self, entry):
        """Send now, or on a thread of its own when deliveries may overlap
        (deliver_concurrency > 1): bursts then reach the receiver in
        parallel, and an update may overtake the report it updates."""
        limit = max(1, self.state.config["deliver_concurrency"])
        if limit == 1:
            self._send(entry)
            return
        with self.cond:
            while self.inflight >= limit and not self.stopped:
                self.cond.wait(0.5)
            self.inflight += 1

        def task():
            try:
                self._send(entry)
            except Exception as e:
                sys.stderr.write("tracktik-sim: delivery error: %s\n" % e)
            finally:
                with self.cond:
                    self.inflight -= 1
                    self.cond.notify_all()
        threading.Thread(target=task, name="delivery", daemon=True).start()

    def _step(self):
        cfg = self.state.config
        r = self.rng.random()
        with self.cond:
            have_bodies = bool(self.bodies)
            have_reports = bool(self.sent_reports)
        if r < cfg["redeliver_ratio"] and have_bodies:
            kind = "redeliver"
        elif r < cfg["redeliver_ratio"] + cfg["update_ratio"] and have_reports:
            kind = "update"
        else:
            kind = "new"
        return self._make(kind, None, None)

    def deliver_now(self, kind="new", count=1, report=None, url=None):
        if kind not in ("new", "update", "redeliver"):
            raise ValueError("kind is new, update or redeliver")
        if count < 1 or count > 10000:
            raise ValueError("count must be 1..10000")
        targets = self._targets("created", url) + \
            self._targets("updated", url)
        if not targets and kind != "redeliver":
            raise ValueError("no delivery URL: give url, configure "
                             "deliver_url or create an events subscription")
        if report is not None:
            report = int(report)
            if self.tenant.get("reports", report) is None:
                raise ValueError("no report %d" % report)
            with self.cond:
                delivered = any(rid == report for _, rid in self.last_body)
            if kind == "redeliver" and not delivered:
                raise ValueError("report %d was never delivered" % report)
        if kind != "new" and report is None:
            with self.cond:
                if kind == "redeliver" and not self.bodies:
                    raise ValueError("nothing delivered yet to redeliver")
                if kind == "update" and not self.sent_reports:
                    raise ValueError("nothing delivered yet to update")
        if any(t["sub"] is None for t in targets):
            self._secret()     # fail early without a secret
        results = []
        for _ in range(count):
            results += [self._send(e) for e in self._make(kind, report, url)]
        return results

    # -- making and sending deliveries ---------------------------------------

    def _secret(self):
        path = self.state.config["secret_file"]
        if path:
            return read_secret(path)
        env = os.environ.get("TRACKTIK_SIM_SECRET")
        if env:
            return env.encode()
        raise ValueError("no webhook secret: configure secret_file")

    def _config_target(self, url):
        cfg = self.state.config
        return {"key": "config", "url": url, "header": cfg["secret_header"],
                "sub": None, "fields": [], "envelope": cfg["deliver_envelope"],
                "include": [i.strip() for i in cfg["deliver_include"]
                            .split(",") if i.strip()]}

    def _targets(self, trigger, url=None):
        """Where a report event goes: the configured URL (or the one given
        to /__sim/deliver) and every active events subscription that asked
        for entity:reports:<trigger>."""
        if url:
            return [self._config_target(url)]
        out = []
        if self.state.config["deliver_url"]:
            out.append(self._config_target(self.state.config["deliver_url"]))
        event = "entity:reports:" + trigger
        with self.tenant.lock:
            subs = sorted(self.tenant.table("events-subscriptions").values(),
                          key=lambda s: s["id"])
            for sub in subs:
                if sub["_status"] != "active" or event not in sub["events"]:
                    continue
                shape = sub.get("entityResponse") or {}
                out.append({"key": "subscription %d" % sub["id"],
                            "url": sub["url"],
                            "header": sub["_secretHeaderName"],
                            "sub": sub["id"], "envelope": "bare",
                            "include": list(shape.get("include", [])),
                            "fields": list(shape.get("fields", []))})
        return out

    def has_subscriptions(self):
        with self.tenant.lock:
            return any(s["_status"] == "active" for s in
                       self.tenant.table("events-subscriptions").values())

    def _render(self, rep, target):
        self.tenant.check_includes("reports", target["include"])
        entity = self.state.shape("reports", rep, target["include"],
                                  target["fields"])
        if target["envelope"] == "data":
            entity = {"data": entity}
        elif target["envelope"] == "list":
            entity = {"meta": {"count": 1, "itemCount": 1,
                               "resource": "reports"}, "data": [entity]}
        return php_json(entity)

    def _make(self, kind, report_id, url):
        """Carry out one event on the tenant; -> the deliveries it causes
        (one per target)."""
        now = datetime.datetime.now(UTC).replace(microsecond=0)
        change = None
        with self.tenant.lock:
            if kind == "redeliver":
                with self.cond:
                    if report_id is not None:
                        picks = [(t, report_id, b) for (k, rid), (t, b) in
                                 self.last_body.items() if rid == report_id]
                    else:
                        picks = [self.rng.choice(list(self.bodies))]
            else:
                if kind == "new":
                    when = now - datetime.timedelta(
                        minutes=self.rng.randint(1, 15))
                    rep = self.tenant.new_report(when, self.rng, now=now)
                    trigger = "created"
                else:
                    rid = report_id or self.rng.choice(self.sent_reports)
                    rep = self.tenant.get("reports", rid)
                    change = self.tenant.update_report(rep, self.rng, now)
                    trigger = "updated"
                rid_made = rep["id"]
                picks = [(t, rid_made, self._render(rep, t))
                         for t in self._targets(trigger, url)]
            entries = []
            with self.cond:
                for target, rid, body in picks:
                    rep = self.tenant.get("reports", rid)
                    self.seq += 1
                    entries.append({
                        "seq": self.seq, "kind": kind, "report": rid,
                        "target": target["key"],
                        "updatedOn": rep.get("updatedOn"), "change": change,
                        "sha256": hashlib.sha256(body).hexdigest(),
                        "bytes": len(body), "attempt": 0,
                        "url": target["url"], "_body": body,
                        "_target": target})
                    if kind != "redeliver":
                        self.bodies.append((target, rid, body))
                        self.last_body[(target["key"], rid)] = (target, body)
                    self.stats["generated." + kind] += 1
                if kind != "redeliver" and rid_made not in self.sent_reports:
                    self.sent_reports.append(rid_made)
        return entries

    def _subscription_secret(self, sub_id):
        with self.tenant.lock:
            sub = self.tenant.get("events-subscriptions", sub_id)
            if sub is None or sub["_status"] == "archived":
                raise ValueError("events subscription %d is gone" % sub_id)
            return sub["_secret"].encode("utf-8")

    def _dropped(self, entry):
        """deliver_drop > 0: this delivery is lost on purpose, as when
        TrackTik gives up after its retries or a subscription was
        suspended; the report changed all the same (a pull finds it)."""
        with self.state.lock:
            if self.state.config["deliver_drop"] <= 0:
                return None
            self.state.config["deliver_drop"] -= 1
        with self.cond:
            self.stats["dropped"] += 1
            result = {k: v for k, v in entry.items() if not k.startswith("_")}
            result.update({"status": None, "error": "dropped on purpose",
                           "at": iso(datetime.datetime.now(UTC)),
                           "willRetry": False})
            self.entries.append(result)
        return result

    def _send(self, entry):
        cfg = self.state.config
        dropped = self._dropped(entry) if entry["attempt"] == 0 else None
        if dropped is not None:
            return dropped
        body = entry["_body"]
        entry["attempt"] += 1
        status, error = None, None
        target = entry["_target"]
        try:
            secret = self._secret() if target["sub"] is None else \
                self._subscription_secret(target["sub"])
            signed = signature(secret, body)
            url = urllib.parse.urlsplit(entry["url"])
            if url.scheme not in ("http", "https") or not url.hostname:
                raise ValueError("bad delivery URL %s" % entry["url"])
            conn_class = http.client.HTTPSConnection \
                if url.scheme == "https" else http.client.HTTPConnection
            path = (url.path or "/") + ("?" + url.query if url.query
                                        else "")
            conn = conn_class(url.hostname, url.port,
                              timeout=cfg["deliver_timeout"])
            try:
                # header names exactly as TrackTik spells them
                conn.request("POST", path, body=body, headers={
                    "Content-Type": "application/json",
                    target["header"]: signed,
                    "User-Agent": "TrackTik-Events-Subscription "
                                  "(tracktik-sim)"})
                resp = conn.getresponse()
                resp.read()
                status = resp.status
            finally:
                conn.close()
        except (http.client.HTTPException, OSError, ValueError) as e:
            error = str(e) or e.__class__.__name__
        if target["sub"] is not None:
            with self.tenant.lock:
                sub = self.tenant.get("events-subscriptions", target["sub"])
                if sub is not None:
                    sub["lastTriggeredOn"] = iso(datetime.datetime.now(UTC))
        ok = status is not None and 200 <= status < 300
        retry = not ok and (status is None or status >= 500 or
                            status in RETRYABLE) and \
            entry["attempt"] <= cfg["deliver_retries"]
        with self.cond:
            self.stats["attempts"] += 1
            self.stats["acked" if ok else "failed"] += 1
            if status is not None:
                self.stats["status.%d" % status] += 1
            result = {k: v for k, v in entry.items() if not k.startswith("_")}
            result.update({"status": status, "error": error,
                           "at": iso(datetime.datetime.now(UTC)),
                           "willRetry": retry})
            self.entries.append(result)
            if retry:
                delay = RETRY_DELAYS[min(entry["attempt"] - 1,
                                         len(RETRY_DELAYS) - 1)]
                heapq.heappush(self.retries, (time.monotonic() + delay,
                                              entry["seq"], entry))
                self.stats["retriesScheduled"] += 1
                self.cond.notify_all()
        if not self.quiet:
            sys.stderr.write("tracktik-sim: delivery #%d %s report %d to %s "
                             "-> %s\n" % (entry["seq"], entry["kind"],
                                          entry["report"], entry["target"],
                                          status if status is not None
                                          else error))
        return result
