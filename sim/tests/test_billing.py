"""POST/GET /rest/v1/billing-adhoc-items: required fields, validation,
round trip, lookup by description (the worker's idempotency key)."""

import unittest

from simtest import SimTestCase

REQUIRED = ["price", "quantity", "serviceDate", "description", "account",
            "contract", "billItem"]


class BillingAdhocItemTests(SimTestCase):

    def setUp(self):
        SimTestCase.setUp(self)
        self.token = self.sim.token()
        state = self.sim.admin("GET", "state")
        self.adh = state["tenant"]["billItems"]["ADH"]
        self.site = state["tenant"]["sites"][0]
        pos = self.sim.get("/rest/v1/positions", self.token, account=self.site,
                           nonBillable="false").json["data"][0]
        self.contract = self.sim.get("/rest/v1/positions/%d" % pos["id"],
                                     self.token, include="contract"
                                     ).json["data"]["contract"]["id"]

    def item(self, **over):
        body = {"price": 125.0, "quantity": 1.0, "serviceDate": "2026-11-27",
                "description": "tracktik-worker line 7f3a", "account":
                self.site, "contract": self.contract, "billItem": self.adh}
        body.update(over)
        return body

    def post(self, body, **kw):
        return self.sim.request("POST", "/rest/v1/billing-adhoc-items",
                                token=self.token, json_body=body, **kw)

    def count(self):
        return self.sim.admin("GET", "state")["billingAdhocItems"]["count"]

    def test_each_missing_required_field_is_a_400_naming_it(self):
        for field in REQUIRED:
            body = self.item()
            del body[field]
            resp = self.post(body)
            self.assertEqual(resp.status, 400, field)
            self.assertEqual(resp.json["status"], 400)
            self.assertIn("`%s`" % field, resp.json["error"])
            null = self.post(self.item(**{field: None}))
            self.assertEqual(null.status, 400, field)
        self.assertEqual(self.count(), 0)

    def test_wrong_values_are_400_and_store_nothing(self):
        for over in ({"price": "cheap"}, {"quantity": True},
                     {"serviceDate": "2026-13-01"},
                     {"serviceDate": "27/11/2026"}, {"account": 999999},
                     {"contract": 1}, {"billItem": "ADH"},
                     {"description": 12}):
            resp = self.post(self.item(**over))
            self.assertEqual(resp.status, 400, over)
        for raw in (b"{not json", b"[1,2]"):
            resp = self.sim.request("POST", "/rest/v1/billing-adhoc-items",
                                    token=self.token, body=raw, headers={
                                        "Content-Type": "application/json"})
            self.assertEqual(resp.status, 400)
        self.assertEqual(self.count(), 0)

    def test_created_item_round_trips(self):
        resp = self.post(self.item(taxClass=3))
        self.assertEqual(resp.status, 200, resp.body)
        created = resp.json["data"]
        self.assertEqual(created["status"], "NOT_PROCESSED")
        self.assertEqual(created["description"], "tracktik-worker line 7f3a")
        self.assertEqual(created["price"], 125.0)
        self.assertEqual(created["billItem"], self.adh)
        one = self.sim.get("/rest/v1/billing-adhoc-items/%d" % created["id"],
                           self.token, include="billItem,account").json["data"]
        self.assertEqual(one["billItem"]["customId"], "ADH")
        self.assertEqual(one["account"]["id"], self.site)
        self.assertEqual(one["taxClass"], 3)
        self.assertEqual(self.count(), 1)

    def test_credit_lines_take_negative_quantities(self):
        resp = self.post(self.item(quantity=-1, description="credit 7f3a"))
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.json["data"]["quantity"], -1)

    def test_form_encoded_body_is_accepted(self):
        body = {k: str(v) for k, v in self.item(price="99.5").items()}
        resp = self.sim.request("POST", "/rest/v1/billing-adhoc-items",
                                token=self.token, form=body)
        self.assertEqual(resp.status, 200, resp.body)
        self.assertEqual(resp.json["data"]["price"], 99.5)
        self.assertEqual(resp.json["data"]["account"], self.site)

    def test_lookup_by_description_finds_exactly_the_posted_item(self):
        for key in ("line-a", "line-b", "line-c"):
            self.assertEqual(self.post(self.item(description=key)).status,
                             200)
        found = self.sim.get("/rest/v1/billing-adhoc-items", self.token,
                             description="line-b").json
        self.assertEqual(found["meta"]["count"], 1)
        self.assertEqual(found["data"][0]["description"], "line-b")
        none = self.sim.get("/rest/v1/billing-adhoc-items", self.token,
                            description="line-z").json
        self.assertEqual(none["meta"]["count"], 0)
        self.assertEqual(none["data"], [])

    def test_state_counts_duplicate_descriptions(self):
        self.post(self.item(description="twice"))
        self.post(self.item(description="twice"))
        self.post(self.item(description="once"))
        state = self.sim.admin("GET", "state")
        self.assertEqual(state["billingAdhocItems"],
                         {"count": 3, "duplicateDescriptions": 1})
        self.assertEqual(state["responses"]
                         ["POST /rest/v1/billing-adhoc-items 200"], 3)

    def test_needs_a_token(self):
        resp = self.sim.request("POST", "/rest/v1/billing-adhoc-items",
                                json_body=self.item())
        self.assertEqual(resp.status, 401)
        self.assertEqual(self.count(), 0)


if __name__ == "__main__":
    unittest.main()
