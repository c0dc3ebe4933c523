"""Events Subscription deliveries: report entities POSTed to a webhook URL,
signed as TrackTik signs them (lowercase hex HMAC-SHA512 of the exact body,
keyed with the subscription secret, in the secret header), including
redeliveries (the very same bytes) and updates (same id, later updatedOn,
changed content)."""

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
            with self.cond:
                if self.stopped:
                    return
                cfg = self.state.config
                url, rate = cfg["deliver_url"], cfg["deliver_rate"]
                active = bool(url) and rate > 0 and not cfg["deliver_paused"]
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
                    entry = self._step(url)
                    next_at += 1.0 / rate
                    if next_at < time.monotonic() - 1.0:
                        next_at = time.monotonic()
                self._dispatch(entry)
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

    def _step(self, url):
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
        return self._make(kind, None, url)

    def deliver_now(self, kind="new", count=1, report=None, url=None):
        url = url or self.state.config["deliver_url"]
        if not url:
            raise ValueError("no delivery URL: give url or configure "
                             "deliver_url")
        if kind not in ("new", "update", "redeliver"):
            raise ValueError("kind is new, update or redeliver")
        if count < 1 or count > 10000:
            raise ValueError("count must be 1..10000")
        if report is not None:
            report = int(report)
            if self.tenant.get("reports", report) is None:
                raise ValueError("no report %d" % report)
            if kind == "redeliver" and report not in self.last_body:
                raise ValueError("report %d was never delivered" % report)
        if kind != "new" and report is None:
            with self.cond:
                if kind == "redeliver" and not self.bodies:
                    raise ValueError("nothing delivered yet to redeliver")
                if kind == "update" and not self.sent_reports:
                    raise ValueError("nothing delivered yet to update")
        self._secret()     # fail early without a secret
        return [self._send(self._make(kind, report, url))
                for _ in range(count)]

    # -- making and sending deliveries ---------------------------------------

    def _secret(self):
        path = self.state.config["secret_file"]
        if path:
            return read_secret(path)
        env = os.environ.get("TRACKTIK_SIM_SECRET")
        if env:
            return env.encode()
        raise ValueError("no webhook secret: configure secret_file")

    def _render(self, rep):
        cfg = self.state.config
        includes = [i.strip() for i in cfg["deliver_include"].split(",")
                    if i.strip()]
        self.tenant.check_includes("reports", includes)
        entity = self.tenant.render("reports", rep, includes)
        envelope = cfg["deliver_envelope"]
        if envelope == "data":
            entity = {"data": entity}
        elif envelope == "list":
            entity = {"meta": {"count": 1, "itemCount": 1,
                               "resource": "reports"}, "data": [entity]}
        return php_json(entity)

    def _make(self, kind, report_id, url):
        now = datetime.datetime.now(UTC).replace(microsecond=0)
        with self.tenant.lock:
            if kind == "new":
                when = now - datetime.timedelta(
                    minutes=self.rng.randint(1, 15))
                rep = self.tenant.new_report(when, self.rng, now=now)
                body = self._render(rep)
                change = None
            elif kind == "update":
                rid = report_id or self.rng.choice(self.sent_reports)
                rep = self.tenant.get("reports", rid)
                change = self.tenant.update_report(rep, self.rng, now)
                body = self._render(rep)
            else:
                if report_id is not None:
                    rid, body = report_id, self.last_body[report_id]
                else:
                    rid, body = self.rng.choice(list(self.bodies))
                rep = self.tenant.get("reports", rid)
                change = None
        with self.cond:
            self.seq += 1
            entry = {"seq": self.seq, "kind": kind, "report": rep["id"],
                     "updatedOn": rep.get("updatedOn"), "change": change,
                     "sha256": hashlib.sha256(body).hexdigest(),
                     "bytes": len(body), "attempt": 0, "url": url,
                     "_body": body}
            if kind != "redeliver":
                self.bodies.append((rep["id"], body))
                self.last_body[rep["id"]] = body
                if rep["id"] not in self.sent_reports:
                    self.sent_reports.append(rep["id"])
            self.stats["generated." + kind] += 1
        return entry

    def _send(self, entry):
        cfg = self.state.config
        body = entry["_body"]
        entry["attempt"] += 1
        status, error = None, None
        try:
            secret = self._secret()
            signature = hmac.new(secret, body, hashlib.sha512).hexdigest()
            url = urllib.parse.urlsplit(entry["url"])
            if url.scheme not in ("http", "https") or not url.hostname:
                raise ValueError("bad delivery URL %s" % entry["url"])
            conn_class = http.client.HTTPSConnection \
                if url.scheme == "https" else http.client.HTTPConnection
            target = (url.path or "/") + ("?" + url.query if url.query
                                          else "")
            conn = conn_class(url.hostname, url.port,
                              timeout=cfg["deliver_timeout"])
            try:
                # header names exactly as TrackTik spells them
                conn.request("POST", target, body=body, headers={
                    "Content-Type": "application/json",
                    cfg["secret_header"]: signature,
                    "User-Agent": "TrackTik-Events-Subscription "
                                  "(tracktik-sim)"})
                resp = conn.getresponse()
                resp.read()
                status = resp.status
            finally:
                conn.close()
        except (http.client.HTTPException, OSError, ValueError) as e:
            error = str(e) or e.__class__.__name__
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
            sys.stderr.write("tracktik-sim: delivery #%d %s report %d -> %s\n"
                             % (entry["seq"], entry["kind"], entry["report"],
                                status if status is not None else error))
        return result
