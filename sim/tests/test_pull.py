"""What the worker's REST pull relies on: a tenant of thousands of
reports created through the admin API, listed a month at a time in
pages of at most 1,000 sorted and paged by id, narrowed by updatedOn,
still valid against the schema; supervisor updates without a delivery;
and deliveries dropped on purpose."""

import unittest

from openapi_validator import Validator, find_schema
from simtest import SimTestCase

INCLUDE = ("reportFields,reportTemplate,account,position,reportFlag,"
           "createdOn,updatedOn")
JAN = "2026-01-01T00:00:00Z|2026-01-31T23:59:59Z"
FEB = "2026-02-01T00:00:00Z|2026-02-28T23:59:59Z"


class PullSupportTests(SimTestCase):
    sim_args = ("--quiet", "--history", "5")
    sim_env = {"TRACKTIK_SIM_SECRET": "test-secret"}

    @classmethod
    def setUpClass(cls):
        SimTestCase.setUpClass.__func__(cls)
        cls.made = cls.sim.admin("POST", "reports", {
            "count": 3000, "from": "2026-01-01", "to": "2026-02-28",
            "seed": 3})

    def setUp(self):
        SimTestCase.setUp(self)
        self.token = self.sim.token()

    def pages(self, window, **extra):
        """every page of a window, paged by id as the worker does"""
        last, out = 0, []
        while True:
            resp = self.sim.get("/rest/v1/reports", self.token, limit=1000,
                                sort="id", include=INCLUDE,
                                **{"reportDateTime:between": window,
                                   "id:gt": last}, **extra)
            self.assertEqual(resp.status, 200, resp.body[:200])
            out.append(resp.json)
            if resp.json["meta"]["itemCount"] < 1000:
                return out
            last = resp.json["data"][-1]["id"]

    def test_bulk_reports_listed_once_each_sorted_by_id(self):
        self.assertEqual(self.made["created"], 3000)
        ids = []
        for window in (JAN, FEB):
            pages = self.pages(window)
            self.assertLessEqual(max(len(p["data"]) for p in pages), 1000)
            mine = [r["id"] for p in pages for r in p["data"]]
            self.assertEqual(mine, sorted(mine))
            ids += mine
        self.assertEqual(len(ids), len(set(ids)), "a report listed twice")
        made = set(range(self.made["first"], self.made["last"] + 1))
        # after-hours reports move to the night, a few out of the range
        self.assertGreater(len(made & set(ids)), 2950)

    def test_more_than_a_month_is_refused_in_trackTiks_shape(self):
        resp = self.sim.get("/rest/v1/reports", self.token, **{
            "reportDateTime:between": "2026-01-01T00:00:00Z|"
                                      "2026-02-01T00:00:01Z"})
        self.assertEqual(resp.status, 400)
        self.assertEqual(set(resp.json), {"status", "error"})
        self.assertIn("1 month", resp.json["error"])

    def test_updated_on_narrows_to_the_changed_reports(self):
        rid = self.made["first"] + 10
        change = self.sim.admin("POST", "reports/%d/update" % rid)
        self.assertEqual(change["id"], rid)
        pages = self.pages(JAN, **{"updatedOn:gte": change["updatedOn"]})
        got = [r["id"] for p in pages for r in p["data"]]
        self.assertEqual(got, [rid])
        self.assertEqual(pages[0]["data"][0]["updatedOn"], change["updatedOn"])

    def test_unknown_report_update_is_404(self):
        resp = self.sim.request("POST", "/__sim/reports/1/update")
        self.assertEqual(resp.status, 404)

    def test_bad_bulk_requests_are_400(self):
        for body in ({"count": 0, "from": "2026-01-01", "to": "2026-01-02"},
                     {"count": 5, "from": "2026-01-02", "to": "2026-01-01"},
                     {"count": 5, "from": "January", "to": "2026-01-01"}):
            resp = self.sim.request("POST", "/__sim/reports", json_body=body)
            self.assertEqual(resp.status, 400, body)

    def test_dropped_deliveries_are_never_sent_but_happen(self):
        self.sim.admin("POST", "config", {
            "deliver_url": "http://127.0.0.1:9/webhooks", "deliver_rate": 0,
            "deliver_drop": 2, "deliver_retries": 0})
        out = self.sim.admin("POST", "deliver", {"kind": "new", "count": 3})
        errors = [d["error"] for d in out["deliveries"]]
        self.assertEqual(errors[:2], ["dropped on purpose"] * 2)
        self.assertNotEqual(errors[2], "dropped on purpose")
        self.assertEqual(self.sim.admin("GET", "config")["deliver_drop"], 0)
        # the dropped reports exist all the same
        for d in out["deliveries"][:2]:
            resp = self.sim.get("/rest/v1/reports/%d" % d["report"],
                                self.token)
            self.assertEqual(resp.status, 200)

    @unittest.skipUnless(find_schema(), "TrackTik OpenAPI schema not found")
    def test_bulk_reports_validate_against_the_schema(self):
        v = Validator.load(find_schema())
        page = self.pages(FEB)[0]
        for item in page["data"][:200]:
            self.assertEqual(v.validate(item, "ReportsItem", strict=True), [],
                             "report %d" % item["id"])


if __name__ == "__main__":
    unittest.main()
