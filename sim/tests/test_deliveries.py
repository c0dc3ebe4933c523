"""Events Subscription deliveries received by a local HTTP server: signed
HMAC-SHA512 over the exact body, redeliveries byte-identical, updates with
the same id and a later updatedOn, retries after failures."""

import datetime
import hashlib
import hmac
import json
import os
import queue
import tempfile
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from openapi_validator import Validator, find_schema
from simtest import Sim

SECRET = "s3cr3t-subscription-key-0123456789"
SCHEMA_PATH = find_schema()


class Receiver:
    """A webhook endpoint: records every POST; answers with the statuses
    queued in `answers`, 202 when none is queued."""

    def __init__(self, barrier=None):
        self.received = queue.Queue()
        self.answers = queue.Queue()
        receiver = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if barrier is not None:
                    try:
                        # answer only once `parties` deliveries are open
                        barrier.wait()
                    except threading.BrokenBarrierError:
                        pass
                try:
                    status = receiver.answers.get_nowait()
                except queue.Empty:
                    status = 202
                receiver.received.put((self.path, dict(self.headers.items()),
                                       body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = "http://127.0.0.1:%d/webhooks/tracktik" % \
            self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever,
                         daemon=True).start()

    def take(self, n, deadline=30):
        # waits for n deliveries; the deadline only guards against a hang
        out = []
        end = time.monotonic() + deadline
        while len(out) < n:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError("only %d of %d deliveries arrived" %
                                     (len(out), n))
            try:
                out.append(self.received.get(timeout=left))
            except queue.Empty:
                pass
        return out

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def headers_ci(headers):
    return {k.lower(): v for k, v in headers.items()}


class DeliveryTests(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.TemporaryDirectory()
        cls.secret_file = os.path.join(cls.dir.name, "webhook.secret")
        with open(cls.secret_file, "w") as f:
            f.write(SECRET + "\n")
        cls.rx = Receiver()
        # rate 0: nothing is sent on its own; tests ask /__sim/deliver
        cls.sim = Sim("--deliver-url", cls.rx.url, "--secret-file",
                      cls.secret_file, "--rate", "0")
        cls.v = Validator.load(SCHEMA_PATH) if SCHEMA_PATH else None

    @classmethod
    def tearDownClass(cls):
        cls.log = cls.sim.stop()
        cls.rx.close()
        cls.dir.cleanup()

    def setUp(self):
        with open(self.secret_file, "w") as f:
            f.write(SECRET + "\n")

    def deliver(self, kind="new", count=1, **extra):
        return self.sim.admin("POST", "deliver", dict(kind=kind, count=count,
                                                      **extra))["deliveries"]

    def assertSigned(self, headers, body, secret=SECRET):
        self.assertIn("TrackTik-Subscription-Secret", headers)  # as spelt
        h = headers_ci(headers)
        self.assertEqual(h["content-type"], "application/json")
        want = hmac.new(secret.encode(), body, hashlib.sha512).hexdigest()
        got = h["tracktik-subscription-secret"]
        self.assertEqual(len(got), 128)
        self.assertEqual(got, got.lower())
        self.assertTrue(hmac.compare_digest(got, want), "bad signature")

    def test_new_reports_arrive_signed_as_report_entities(self):
        results = self.deliver("new", 5)
        self.assertEqual([r["status"] for r in results], [202] * 5)
        got = self.rx.take(5)
        ids = []
        for path, headers, body, _ in got:
            self.assertEqual(path, "/webhooks/tracktik")
            self.assertSigned(headers, body)
            self.assertNotIn(b" ", body[:2])
            report = json.loads(body)
            ids.append(report["id"])
            for key in ("id", "reportDateTime", "status", "updatedOn",
                        "timeZone"):
                self.assertIn(key, report)
            now = datetime.datetime.now(datetime.timezone.utc)
            times = [datetime.datetime.fromisoformat(report[k]) for k in
                     ("reportDateTime", "submittedOn", "updatedOn")]
            self.assertEqual(times, sorted(times))
            self.assertLessEqual(times[-1], now)
            self.assertIsInstance(report["account"], dict)
            self.assertIsInstance(report["position"], dict)
            self.assertIsInstance(report["reportTemplate"], dict)
            self.assertTrue(report["reportFields"])
            if "reportFlag" in report:
                self.assertIn(report["reportFlag"]["severityLevel"],
                              ("SEVERE", "HIGH", "MODERATE", "LOW", "INFO"))
            if self.v:
                self.assertEqual(self.v.validate(report, "ReportsItem",
                                                 strict=True), [])
        self.assertEqual(len(set(ids)), 5)
        # what was delivered is what the REST API serves
        token = self.sim.token()
        api = self.sim.get("/rest/v1/reports/%d" % ids[-1], token)
        self.assertEqual(api.status, 200)
        self.assertEqual(api.json["data"]["id"], ids[-1])

    def test_redelivery_is_byte_identical(self):
        self.deliver("new", 1)
        _, h1, first, _ = self.rx.take(1)[0]
        rid = json.loads(first)["id"]
        result = self.deliver("redeliver", 1, report=rid)[0]
        _, h2, again, _ = self.rx.take(1)[0]
        self.assertEqual(result["kind"], "redeliver")
        self.assertEqual(again, first)
        self.assertEqual(headers_ci(h1)["tracktik-subscription-secret"],
                         headers_ci(h2)["tracktik-subscription-secret"])
        self.assertEqual(result["sha256"], hashlib.sha256(first).hexdigest())

    def test_update_keeps_the_id_with_a_later_updated_on(self):
        self.deliver("new", 1)
        _, _, first, _ = self.rx.take(1)[0]
        before = json.loads(first)
        for _ in range(3):
            result = self.deliver("update", 1, report=before["id"])[0]
            _, headers, body, _ = self.rx.take(1)[0]
            self.assertSigned(headers, body)
            after = json.loads(body)
            self.assertEqual(after["id"], before["id"])
            self.assertGreater(after["updatedOn"], before["updatedOn"])
            self.assertNotEqual(body, first)
            changed = {k for k in after if after[k] != before.get(k)} - {
                "updatedOn", "updatedBy"}
            self.assertTrue(changed, result["change"])
            before, first = after, body

    def test_failed_delivery_is_retried_with_the_same_bytes(self):
        self.rx.answers.put(503)
        result = self.deliver("new", 1)[0]
        self.assertEqual(result["status"], 503)
        self.assertTrue(result["willRetry"])
        (_, _, body1, s1), (_, h2, body2, s2) = self.rx.take(2)
        self.assertEqual((s1, s2), (503, 202))
        self.assertEqual(body1, body2)
        self.assertSigned(h2, body2)

    def test_rejected_signature_is_not_retried(self):
        self.rx.answers.put(401)
        result = self.deliver("new", 1)[0]
        self.assertEqual(result["status"], 401)
        self.assertFalse(result["willRetry"])
        self.rx.take(1)

    def test_rotated_secret_file_signs_with_the_new_secret(self):
        with open(self.secret_file, "w") as f:
            f.write("rotated-secret\nold-line\n")
        self.deliver("new", 1)
        _, headers, body, _ = self.rx.take(1)[0]
        self.assertSigned(headers, body, secret="rotated-secret")

    def test_after_hours_dispatch_is_an_incident_category(self):
        results = self.deliver("new", 40)
        self.assertEqual(len(self.rx.take(40)), 40)
        flags = set()
        token = self.sim.token()
        for r in results:
            rep = self.sim.get("/rest/v1/reports/%d" % r["report"], token,
                               include="reportFlag").json["data"]
            if "reportFlag" in rep:
                flags.add(rep["reportFlag"]["name"])
        self.assertIn("After hours dispatch", flags)
        self.assertGreaterEqual(len(flags), 4)

    def test_envelope_is_configurable(self):
        self.sim.admin("POST", "config", {"deliver_envelope": "data"})
        try:
            self.deliver("new", 1)
            _, headers, body, _ = self.rx.take(1)[0]
            self.assertSigned(headers, body)
            self.assertIsInstance(json.loads(body)["data"]["id"], int)
            self.sim.admin("POST", "config", {"deliver_envelope": "list"})
            self.deliver("new", 1)
            _, _, body, _ = self.rx.take(1)[0]
            self.assertEqual(len(json.loads(body)["data"]), 1)
        finally:
            self.sim.admin("POST", "config", {"deliver_envelope": "bare"})

    def test_update_is_what_the_rest_api_now_serves(self):
        self.deliver("new", 1)
        _, _, body, _ = self.rx.take(1)[0]
        rid = json.loads(body)["id"]
        self.deliver("update", 1, report=rid)
        _, _, body, _ = self.rx.take(1)[0]
        delivered = json.loads(body)
        token = self.sim.token()
        api = self.sim.get("/rest/v1/reports/%d" % rid, token, include=(
            "reportFields,reportTemplate,account,position,reportFlag,"
            "createdOn,updatedOn")).json["data"]
        self.assertEqual(api, delivered)
        log = self.sim.admin("GET", "deliveries?limit=2")["deliveries"]
        self.assertEqual([e["kind"] for e in log], ["new", "update"])
        self.assertEqual(log[1]["sha256"], hashlib.sha256(body).hexdigest())

    def test_deliver_without_a_url_is_refused(self):
        other = Sim("--quiet")
        try:
            resp = other.request("POST", "/__sim/deliver",
                                 json_body={"kind": "new"})
            self.assertEqual(resp.status, 400)
        finally:
            other.stop()

    def test_log_never_contains_the_secret(self):
        self.deliver("new", 2)
        self.rx.take(2)
        log = self.sim.stderr()
        self.assertIn("delivery", log)
        self.assertNotIn(SECRET, log)
        self.assertNotIn(SECRET, json.dumps(self.sim.admin("GET", "state")))
        self.assertNotIn(SECRET, json.dumps(self.sim.admin("GET",
                                                           "deliveries")))


class RateDrivenDeliveryTests(unittest.TestCase):
    # the generator on its own: N/s with redeliveries and updates mixed in

    def test_generator_mixes_new_updates_and_redeliveries(self):
        rx = Receiver()
        d = tempfile.TemporaryDirectory()
        secret_file = os.path.join(d.name, "s")
        with open(secret_file, "w") as f:
            f.write(SECRET)
        sim = Sim("--quiet", "--deliver-url", rx.url, "--secret-file",
                  secret_file, "--rate", "40/s", "--redeliver-ratio", "0.25",
                  "--update-ratio", "0.25", "--seed", "7")
        try:
            got = rx.take(60)
        finally:
            sim.stop()
            rx.close()
            d.cleanup()
        bodies = [b for _, _, b, _ in got]
        for _, headers, body, _ in got:
            want = hmac.new(SECRET.encode(), body, hashlib.sha512).hexdigest()
            self.assertEqual(headers_ci(headers)
                             ["tracktik-subscription-secret"], want)
        seen_ids = {}
        redeliveries = updates = 0
        for i, body in enumerate(bodies):
            rep = json.loads(body)
            if body in bodies[:i]:
                redeliveries += 1
            elif rep["id"] in seen_ids:
                updates += 1
                self.assertGreater(rep["updatedOn"], seen_ids[rep["id"]])
            seen_ids[rep["id"]] = max(rep["updatedOn"],
                                      seen_ids.get(rep["id"], ""))
        self.assertGreater(redeliveries, 0)
        self.assertGreater(updates, 0)
        self.assertGreater(len(seen_ids), 20)


    def test_deliveries_overlap_with_concurrency(self):
        # the receiver holds every answer until 4 deliveries are open at
        # once; one-by-one sending could never get there (the barrier's
        # timeout only guards against a hang)
        barrier = threading.Barrier(4, timeout=20)
        rx = Receiver(barrier=barrier)
        d = tempfile.TemporaryDirectory()
        secret_file = os.path.join(d.name, "s")
        with open(secret_file, "w") as f:
            f.write(SECRET)
        sim = Sim("--quiet", "--deliver-url", rx.url, "--secret-file",
                  secret_file, "--rate", "100/s", "--deliver-concurrency",
                  "4")
        try:
            got = rx.take(8)
            self.assertFalse(barrier.broken)
        finally:
            barrier.abort()
            sim.stop()
            rx.close()
            d.cleanup()
        self.assertEqual(len(got), 8)


class CommandLineTests(unittest.TestCase):

    def test_deliver_url_without_secret_is_refused(self):
        with self.assertRaises(RuntimeError) as ctx:
            Sim("--deliver-url", "http://127.0.0.1:9/x")
        self.assertIn("secret", str(ctx.exception))

    def test_sim_port_environment_is_honoured(self):
        sim = Sim("--quiet", env={"SIM_PORT": "0"})
        try:
            self.assertEqual(sim.request("GET", "/__sim/health").status, 200)
        finally:
            sim.stop()


if __name__ == "__main__":
    unittest.main()
