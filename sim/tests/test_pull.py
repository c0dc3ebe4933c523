"""What the worker's REST pull relies on: a tenant of thousands of
reports created through the admin API, listed a month at a time in
pages of at most 1,000 sorted and paged by id, or sorted by
reportDateTime then id (ties included) and paged by offset, with
:between inclusive at both ends and at most a month long, narrowed by
updatedOn, still valid against the schema; supervisor updates without a
delivery; deliveries dropped on purpose; and the fault rules a pull's
tests use (a body of their own, after N requests, on a query)."""

import datetime
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

    def listing(self, **params):
        resp = self.sim.get("/rest/v1/reports", self.token, **params)
        self.assertEqual(resp.status, 200, resp.body[:200])
        return resp.json

    def test_sorted_by_report_date_time_then_id_ties_included(self):
        tie = "2026-03-10T12:00:00"
        made = self.sim.admin("POST", "reports", {"count": 7, "at": tie,
                                                  "seed": 9})
        self.assertEqual(made["created"], 7)
        window = {"reportDateTime:between": "2026-03-10T00:00:00Z|"
                                            "2026-03-10T23:59:59Z"}
        everything = self.listing(sort="reportDateTime,id", limit=1000,
                                  **window)["data"]
        at_tie = [r["id"] for r in everything
                  if r["reportDateTime"] == tie + "+00:00"]
        self.assertEqual(at_tie, list(range(made["first"],
                                            made["last"] + 1)),
                         "the reports of one second, by id")
        keys = [(datetime.datetime.fromisoformat(r["reportDateTime"]),
                 r["id"]) for r in everything]
        self.assertEqual(keys, sorted(keys))
        # descending on the first key, ascending on the second
        down = self.listing(sort="-reportDateTime,id", limit=1000,
                            **window)["data"]
        self.assertEqual([r["id"] for r in down
                          if r["reportDateTime"] == tie + "+00:00"], at_tie)
        self.assertEqual([r["id"] for r in down], [
            k[1] for k in sorted(keys, key=lambda k: (-k[0].timestamp(),
                                                      k[1]))])
        # offset paging in that order, three at a time, across the tie
        paged, offset = [], 0
        while True:
            page = self.listing(sort="reportDateTime,id", limit=3,
                                offset=offset, **window)
            self.assertEqual(page["meta"]["count"], len(everything))
            paged += [r["id"] for r in page["data"]]
            if len(page["data"]) < 3:
                break
            offset += 3
        self.assertEqual(paged, [r["id"] for r in everything])

    def test_between_includes_both_ends(self):
        made = self.sim.admin("POST", "reports", {
            "count": 2, "at": "2026-03-20T08:30:00", "seed": 4})
        for window, n in (("2026-03-20T08:30:00Z|2026-03-20T09:00:00Z", 2),
                          ("2026-03-20T08:00:00Z|2026-03-20T08:30:00Z", 2),
                          ("2026-03-20T08:30:00Z|2026-03-20T08:30:00Z", 2),
                          ("2026-03-20T08:30:01Z|2026-03-20T09:00:00Z", 0),
                          ("2026-03-20T08:00:00Z|2026-03-20T08:29:59Z", 0)):
            got = self.listing(**{"reportDateTime:between": window,
                                  "limit": 10})
            self.assertEqual(len([r for r in got["data"] if made["first"]
                                  <= r["id"] <= made["last"]]), n, window)

    def test_a_month_is_the_longest_window(self):
        # a month to the second is accepted (Jan 31 + 1 month: Feb 28),
        # a second more is not, from any day of the month
        for lo, hi in (("2026-01-31T10:00:00Z", "2026-02-28T10:00:00Z"),
                       ("2026-01-15T00:00:00Z", "2026-02-15T00:00:00Z"),
                       ("2028-01-30T12:00:00Z", "2028-02-29T12:00:00Z"),
                       ("2025-12-31T23:59:59Z", "2026-01-31T23:59:59Z")):
            ok = self.sim.get("/rest/v1/reports", self.token, limit=1, **{
                "reportDateTime:between": lo + "|" + hi})
            self.assertEqual(ok.status, 200, lo)
            more = (datetime.datetime.fromisoformat(hi.replace("Z",
                                                               "+00:00"))
                    + datetime.timedelta(seconds=1)).strftime(
                        "%Y-%m-%dT%H:%M:%SZ")
            refused = self.sim.get("/rest/v1/reports", self.token, limit=1,
                                   **{"reportDateTime:between":
                                      lo + "|" + more})
            self.assertEqual(refused.status, 400, lo)

    def test_bulk_reports_at_one_second_are_all_there(self):
        made = self.sim.admin("POST", "reports", {
            "count": 3, "at": "2026-02-10T23:30:00", "seed": 8})
        for rid in range(made["first"], made["last"] + 1):
            rep = self.sim.get("/rest/v1/reports/%d" % rid, self.token).json
            self.assertEqual(rep["data"]["reportDateTime"],
                             "2026-02-10T23:30:00+00:00")
        resp = self.sim.request("POST", "/__sim/reports", json_body={
            "count": 3, "at": "2026-02-10 23:30"})
        self.assertEqual(resp.status, 400)

    def test_body_fault_after_n_requests_on_a_query(self):
        self.sim.admin("PUT", "faults", {
            "kind": "body", "body": "[[[1]]]", "path": "/rest/v1/clients",
            "query": "parentClient=", "after": 1, "count": 1})
        plain = self.sim.get("/rest/v1/clients", self.token, limit=1)
        self.assertEqual(plain.status, 200)
        self.assertIn("data", plain.json, "no query: not the rule's")
        first = self.sim.get("/rest/v1/clients", self.token,
                             parentClient=101)
        self.assertIn("data", first.json, "the first one goes through")
        second = self.sim.get("/rest/v1/clients", self.token,
                              parentClient=101)
        self.assertEqual((second.status, second.body), (200, b"[[[1]]]"))
        third = self.sim.get("/rest/v1/clients", self.token,
                             parentClient=101)
        self.assertIn("data", third.json, "count was 1")
        resp = self.sim.request("PUT", "/__sim/faults",
                                json_body={"kind": "body"})
        self.assertEqual(resp.status, 400)

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
