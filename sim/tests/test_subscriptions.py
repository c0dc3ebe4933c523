"""Events subscriptions created through the REST API, as an operator sets
up a real tenant: POST /rest/v1/events-subscriptions with url, secret and
secretHeaderName; report events then go there, shaped by entityResponse
and signed with that subscription's secret under its header name."""

import hashlib
import hmac
import json
import unittest

from openapi_validator import Validator, find_schema
from simtest import SimTestCase
from test_deliveries import Receiver

SCHEMA_PATH = find_schema()


class SubscriptionTests(SimTestCase):
    sim_args = ("--quiet", "--rate", "0")

    @classmethod
    def setUpClass(cls):
        SimTestCase.setUpClass.__func__(cls)
        cls.rx = Receiver()

    @classmethod
    def tearDownClass(cls):
        cls.rx.close()
        SimTestCase.tearDownClass.__func__(cls)

    def setUp(self):
        SimTestCase.setUp(self)
        self.token = self.sim.token()

    def subscribe(self, **over):
        body = {"customId": "PORTAL-1", "name": "Reports to the portal",
                "events": ["entity:reports:created",
                           "entity:reports:updated"],
                "url": self.rx.url, "secretHeaderName": "X-Guard-Signature",
                "secret": "subscription-secret-42",
                "entityResponse": {"fields": ["id", "status", "updatedOn",
                                              "reportFlag"],
                                   "include": ["reportFlag", "updatedOn"]}}
        body.update(over)
        return self.sim.request("POST", "/rest/v1/events-subscriptions",
                                token=self.token, json_body=body)

    def deliver(self, kind="new", **extra):
        return self.sim.request("POST", "/__sim/deliver",
                                json_body=dict(kind=kind, **extra))

    def test_required_fields_and_bad_values_are_400(self):
        for field in ("customId", "name", "events", "url",
                      "secretHeaderName", "secret"):
            resp = self.subscribe(**{field: None})
            self.assertEqual(resp.status, 400, field)
            self.assertIn("`%s`" % field, resp.json["error"])
        for over in ({"events": ["entity:reports:created",
                                 "entity:employees:created"]},
                     {"events": "entity:reports:created"},
                     {"url": "ftp://example/x"},
                     {"secretHeaderName": "has spaces"},
                     {"entityResponse": {"include": ["bogus"]}},
                     {"failureEmail": "not-an-address"},
                     {"contextFilters": ["context.region.3"]},
                     {"contextFilters": {"filters": [{"tag": "region 3"}]}}):
            self.assertEqual(self.subscribe(**over).status, 400, over)
        listed = self.sim.get("/rest/v1/events-subscriptions", self.token)
        self.assertEqual(listed.json["meta"]["count"], 0)

    def test_deliveries_follow_the_subscription(self):
        created = self.subscribe()
        self.assertEqual(created.status, 200, created.body)
        sub = created.json["data"]
        self.assertNotIn("secret", sub)
        self.assertNotIn("subscription-secret-42", created.body.decode())
        self.assertEqual(self.deliver().status, 200)
        _, headers, body, _ = self.rx.take(1)[0]
        self.assertIn("X-Guard-Signature", headers)
        want = hmac.new(b"subscription-secret-42", body,
                        hashlib.sha512).hexdigest()
        self.assertEqual(headers["X-Guard-Signature"], want)
        report = json.loads(body)
        self.assertEqual(sorted(report), ["id", "reportFlag", "status",
                                          "updatedOn"]
                         if "reportFlag" in report else
                         ["id", "status", "updatedOn"])
        if "reportFlag" in report:
            self.assertIsInstance(report["reportFlag"], dict)
        again = self.sim.get("/rest/v1/events-subscriptions/%d" % sub["id"],
                             self.token).json["data"]
        self.assertIn("lastTriggeredOn", again)
        self.assertNotIn("subscription-secret-42",
                         json.dumps(self.sim.admin("GET", "state")))

    def test_only_the_subscribed_triggers_are_sent(self):
        self.assertEqual(self.subscribe(
            events=["entity:reports:created"]).status, 200)
        self.assertEqual(self.deliver().status, 200)
        rid = json.loads(self.rx.take(1)[0][2])["id"]
        resp = self.deliver("update", report=rid)
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.json["deliveries"], [])
        self.assertTrue(self.rx.received.empty())

    def test_suspend_enable_archive(self):
        sub = self.subscribe().json["data"]
        base = "/rest/v1/events-subscriptions/%d/actions/" % sub["id"]
        no_reason = self.sim.request("POST", base + "suspend",
                                     token=self.token, json_body={})
        self.assertEqual(no_reason.status, 400)
        self.assertEqual(self.sim.request(
            "POST", base + "suspend", token=self.token,
            json_body={"reason": "maintenance"}).status, 200)
        self.assertEqual(self.deliver().status, 400)   # nowhere to send
        self.assertEqual(self.sim.request("POST", base + "enable",
                                          token=self.token).status, 200)
        self.assertEqual(self.deliver().status, 200)
        self.rx.take(1)
        self.assertEqual(self.sim.request("POST", base + "archive",
                                          token=self.token).status, 200)
        self.assertEqual(self.sim.request("POST", base + "enable",
                                          token=self.token).status, 400)
        self.assertEqual(self.sim.request(
            "POST", "/rest/v1/events-subscriptions/999/actions/enable",
            token=self.token).status, 404)

    @unittest.skipUnless(SCHEMA_PATH, "TrackTik OpenAPI schema not found")
    def test_subscription_item_matches_the_schema(self):
        v = Validator.load(SCHEMA_PATH)
        item = self.subscribe(failureEmail="ops@example.com").json["data"]
        errors = v.validate(item, "EventsSubscriptionsItem", strict=True)
        # the schema types `events` as a JSON object while documenting an
        # array (its own example is a list); everything else must match
        self.assertEqual([e for e in errors if not e.startswith(
            "$.events:")], [])
        self.assertIsInstance(item["events"], list)
        post = dict(item, secretHeaderName="X", secret="s")
        post_errors = v.validate(post, "EventsSubscriptionsPost")
        self.assertEqual([e for e in post_errors if not e.startswith(
            "$.events:")], [])


if __name__ == "__main__":
    unittest.main()
