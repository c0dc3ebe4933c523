"""REST v1 collections: envelope, pagination limits, filters (and the
/reports filter rule), include, on-demand fields, single items."""

import datetime
import unittest

from simtest import RESOURCES, Sim, SimTestCase


def ts(text):
    return datetime.datetime.fromisoformat(text)


class RestTests(SimTestCase):
    # a fixed anchor: the same-seed comparison must not straddle midnight
    sim_args = ("--quiet", "--history", "400", "--anchor", "2026-06-15")

    @classmethod
    def setUpClass(cls):
        SimTestCase.setUpClass.__func__(cls)
        cls.anchor = ts(cls.sim.admin("GET", "state")["anchor"])

    def setUp(self):
        SimTestCase.setUp(self)
        self.token = self.sim.token()

    def get(self, path, **params):
        return self.sim.get(path, self.token, **params)

    def window(self, days_back, days):
        start = self.anchor - datetime.timedelta(days=days_back)
        end = start + datetime.timedelta(days=days)
        return "%s|%s" % (start.strftime("%Y-%m-%d"), end.strftime("%Y-%m-%d"))

    def test_every_resource_lists_with_the_meta_data_envelope(self):
        for res in RESOURCES:
            params = {"id:gt": 0} if res == "reports" else {}
            resp = self.get("/rest/v1/" + res, **params)
            self.assertEqual(resp.status, 200, res)
            body = resp.json
            self.assertEqual(sorted(body), ["data", "meta"])
            meta = body["meta"]
            self.assertEqual(meta["resource"], res)
            self.assertEqual(meta["limit"], 100)
            self.assertEqual(meta["offset"], 0)
            self.assertEqual(meta["itemCount"], len(body["data"]))
            self.assertLessEqual(meta["itemCount"], meta["count"])

    def test_limit_defaults_to_100(self):
        body = self.get("/rest/v1/reports", **{
            "reportDateTime:between": self.window(40, 30)}).json
        self.assertGreater(body["meta"]["count"], 100)
        self.assertEqual(body["meta"]["limit"], 100)
        self.assertEqual(len(body["data"]), 100)

    def test_limit_is_capped_at_1000(self):
        body = self.get("/rest/v1/reports", limit=5000, **{
            "id:gt": 0}).json
        self.assertEqual(body["meta"]["limit"], 1000)
        self.assertEqual(len(body["data"]), min(1000, body["meta"]["count"]))
        big = Sim("--quiet", "--history", "1100")
        try:
            t = big.token()
            body = big.get("/rest/v1/reports", t, limit=5000,
                           **{"id:gt": 0}).json
            self.assertEqual(body["meta"]["count"], 1100)
            self.assertEqual(body["meta"]["limit"], 1000)
            self.assertEqual(body["meta"]["itemCount"], 1000)
            self.assertEqual(len(body["data"]), 1000)
            rest = big.get("/rest/v1/reports", t, limit=1000, offset=1000,
                           **{"id:gt": 0}).json
            self.assertEqual(rest["meta"]["itemCount"], 100)
        finally:
            big.stop()

    def test_bad_limit_or_offset_is_400(self):
        for params in ({"limit": 0}, {"limit": -1}, {"limit": "ten"},
                       {"offset": -5}, {"offset": "x"}):
            resp = self.get("/rest/v1/clients", **params)
            self.assertEqual(resp.status, 400, params)

    def test_offset_pages_cover_the_collection_exactly_once(self):
        flt = {"reportDateTime:between": self.window(40, 30)}
        full = self.get("/rest/v1/reports", limit=1000, **flt).json
        ids = [r["id"] for r in full["data"]]
        self.assertEqual(ids, sorted(ids))
        paged, offset = [], 0
        while True:
            page = self.get("/rest/v1/reports", limit=37, offset=offset,
                            **flt).json
            self.assertEqual(page["meta"]["count"], full["meta"]["count"])
            paged += [r["id"] for r in page["data"]]
            offset += 37
            if page["meta"]["itemCount"] < 37:
                break
        self.assertEqual(paged, ids)

    def test_reports_without_a_filter_is_400(self):
        for params in ({}, {"limit": 10}, {"status": "APPROVED"},
                       {"include": "reportFields"}):
            resp = self.get("/rest/v1/reports", **params)
            self.assertEqual(resp.status, 400, params)
            self.assertEqual(resp.json["status"], 400)
            self.assertIn("filter", resp.json["error"])

    def test_reports_accept_each_documented_required_filter(self):
        some = self.get("/rest/v1/reports", **{"id:lte": 10010}).json["data"]
        self.assertEqual([r["id"] for r in some], list(range(10001, 10011)))
        pos = some[0]["position"]
        for params in ({"position": pos}, {"id:in": "10001,10002"},
                       {"submittedOn:after": self.window(10, 1)[:10]},
                       {"approvedOn:between": self.window(20, 10)},
                       {"scope": "HAS_INCIDENT", "limit": 5}):
            resp = self.get("/rest/v1/reports", **params)
            self.assertEqual(resp.status, 200, params)
            self.assertGreater(resp.json["meta"]["count"], 0, params)
        by_pos = self.get("/rest/v1/reports", position=pos).json["data"]
        self.assertTrue(all(r["position"] == pos for r in by_pos))

    def test_between_filter_is_inclusive_and_at_most_one_month(self):
        lo = self.anchor - datetime.timedelta(days=40)
        hi = lo + datetime.timedelta(days=31)
        ok = self.get("/rest/v1/reports", limit=1000, **{
            "reportDateTime:between": "%s|%s" % (lo.strftime("%Y-%m-%d"),
                                                 hi.strftime("%Y-%m-%d"))})
        # 40 days back + 31 days stays within one calendar month only if the
        # month is long enough: compute what TrackTik's rule says
        month_later = lo.replace(month=lo.month % 12 + 1,
                                 year=lo.year + (lo.month == 12))
        self.assertEqual(ok.status, 200 if hi <= month_later else 400)
        too_long = self.get("/rest/v1/reports", **{
            "reportDateTime:between": self.window(45, 40)})
        self.assertEqual(too_long.status, 400)
        self.assertIn("1 month", too_long.json["error"])
        body = self.get("/rest/v1/reports", limit=1000, **{
            "reportDateTime:between": self.window(30, 10)}).json
        lo = (self.anchor - datetime.timedelta(days=30))
        hi = lo + datetime.timedelta(days=11)   # end date is inclusive
        self.assertGreater(len(body["data"]), 0)
        for r in body["data"]:
            self.assertTrue(lo <= ts(r["reportDateTime"]) < hi, r["id"])
        exact = body["data"][0]["reportDateTime"]
        same = self.get("/rest/v1/reports", **{
            "reportDateTime:between": "%s|%s" % (exact, exact)}).json
        self.assertIn(body["data"][0]["id"], [r["id"] for r in same["data"]])

    def test_in_filter_takes_at_most_100_values(self):
        ids = ",".join(str(10001 + i) for i in range(100))
        self.assertEqual(self.get("/rest/v1/reports", **{"id:in": ids})
                         .json["meta"]["count"], 100)
        resp = self.get("/rest/v1/reports", **{"id:in": ids + ",20000"})
        self.assertEqual(resp.status, 400)

    def test_unknown_filter_or_bad_date_is_400(self):
        self.assertEqual(self.get("/rest/v1/clients", colour="red").status,
                         400)
        # also when an earlier filter left nothing to look at
        self.assertEqual(self.get("/rest/v1/clients", id=1,
                                  colour="red").status, 400)
        self.assertEqual(self.get("/rest/v1/reports", **{
            "reportDateTime:between": "soon|later"}).status, 400)

    def test_filters_on_values_and_relations(self):
        flags = self.get("/rest/v1/report-flags", severityLevel="SEVERE").json
        self.assertTrue(flags["data"])
        self.assertTrue(all(f["severityLevel"] == "SEVERE"
                            for f in flags["data"]))
        adh = self.get("/rest/v1/report-flags",
                       name="After hours dispatch").json["data"]
        self.assertEqual(len(adh), 1)
        self.assertEqual(adh[0]["customId"], "ADH")
        sites = self.get("/rest/v1/clients", type="SERVICE_LOCATION",
                         include="parentClient").json["data"]
        self.assertGreaterEqual(len(sites), 6)
        parents = {s["parentClient"]["id"] for s in sites}
        self.assertGreaterEqual(len(parents), 3)
        for p in parents:
            kids = self.get("/rest/v1/clients", parentClient=p).json["data"]
            self.assertGreaterEqual(len(kids), 1)
            self.assertTrue(all(k["parentClient"] == p for k in kids))
        contains = self.get("/rest/v1/clients", **{
            "company:contains": "harbour"}).json["data"]
        self.assertTrue(all("Harbour" in c["company"] for c in contains))

    def test_sort_descending(self):
        body = self.get("/rest/v1/positions", sort="-id").json["data"]
        ids = [p["id"] for p in body]
        self.assertEqual(ids, sorted(ids, reverse=True))
        self.assertEqual(self.get("/rest/v1/positions",
                                  sort="nope").status, 400)

    def test_relations_are_ids_unless_included(self):
        plain = self.get("/rest/v1/reports/10001").json["data"]
        for rel in ("account", "position", "reportTemplate"):
            self.assertIsInstance(plain[rel], int)
        self.assertNotIn("reportFields", plain)
        full = self.get("/rest/v1/reports/10001", include=(
            "account,position.account,reportTemplate,reportFields,"
            "reportFields.templateField")).json["data"]
        self.assertEqual(full["account"]["id"], plain["account"])
        self.assertEqual(full["position"]["account"]["id"], plain["account"])
        self.assertEqual(full["reportTemplate"]["id"], plain["reportTemplate"])
        self.assertTrue(full["reportFields"])
        for field in full["reportFields"]:
            self.assertEqual(field["report"], 10001)
            self.assertIsInstance(field["templateField"], dict)
            self.assertIn(field["templateField"]["type"], (
                "TEXT", "TEXTAREA", "TEXT_NUMBER", "CHECKBOX", "PICTURE",
                "TIME", "LIST"))

    def test_on_demand_fields_only_when_included(self):
        plain = self.get("/rest/v1/clients").json["data"][0]
        self.assertNotIn("name", plain)
        self.assertNotIn("timeZone", plain)
        full = self.get("/rest/v1/clients",
                        include="name,timeZone").json["data"][0]
        self.assertEqual(full["name"], full["company"])
        self.assertTrue(full["timeZone"].startswith("America/"))
        self.assertNotIn("updatedOn", self.get(
            "/rest/v1/reports/10001").json["data"])
        self.assertIn("updatedOn", self.get(
            "/rest/v1/reports/10001", include="updatedOn").json["data"])

    def test_unknown_include_is_400(self):
        for inc in ("bogus", "account.bogus", "status.id"):
            resp = self.get("/rest/v1/reports/10001", include=inc)
            self.assertEqual(resp.status, 400, inc)

    def test_fields_selects_and_aliases(self):
        body = self.get("/rest/v1/bill-items",
                        fields="id,customId:code").json["data"]
        self.assertTrue(body)
        for b in body:
            self.assertEqual(sorted(b), ["code", "id"])
        codes = {b["code"] for b in body}
        self.assertTrue({"ADH", "ALR"} <= codes)

    def test_closed_sites_only_with_include_inactive(self):
        default = {c["id"] for c in self.get("/rest/v1/clients",
                                             limit=1000).json["data"]}
        every = self.get("/rest/v1/clients", limit=1000,
                         includeInactive="true").json["data"]
        closed = [c for c in every if c["status"] == "CLOSED"]
        self.assertEqual(len(closed), 1)
        self.assertNotIn(closed[0]["id"], default)
        self.assertIn("closedDate", closed[0])
        one = self.get("/rest/v1/clients/%d" % closed[0]["id"])
        self.assertEqual(one.status, 200)

    def test_single_item_and_404(self):
        resp = self.get("/rest/v1/positions/500")
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.json["data"]["id"], 500)
        for path in ("/rest/v1/positions/99999", "/rest/v1/positions/abc",
                     "/rest/v1/unicorns", "/rest/v2/clients"):
            self.assertEqual(self.get(path).status, 404, path)

    def test_oversized_or_malformed_bodies_are_refused(self):
        resp = self.sim.request("POST", "/rest/v1/billing-adhoc-items",
                                token=self.token, body=b"{}", headers={
                                    "Content-Length": str(64 << 20)})
        self.assertEqual(resp.status, 413)
        resp = self.sim.request("POST", "/rest/v1/billing-adhoc-items",
                                token=self.token, body=b"{}", headers={
                                    "Content-Length": "two"})
        self.assertEqual(resp.status, 400)
        self.assertEqual(self.get("/rest/v1/bill-items").status, 200)

    def test_write_methods_on_read_only_resources_are_405(self):
        resp = self.sim.request("POST", "/rest/v1/clients", token=self.token,
                                json_body={"name": "x"})
        self.assertEqual(resp.status, 405)
        self.assertEqual(resp.header("Allow"), "GET")

    def test_tenant_shape_is_a_guard_company(self):
        clients = self.get("/rest/v1/clients", limit=1000,
                           include="positions").json["data"]
        multi = [c for c in clients if c["type"] == "MULTI_LOCATION_CLIENT"]
        self.assertGreaterEqual(len(multi), 3)
        sites = [c for c in clients if c["type"] == "SERVICE_LOCATION"]
        self.assertTrue(all(s["positions"] for s in sites))
        flags = self.get("/rest/v1/report-flags").json["data"]
        self.assertEqual({f["severityLevel"] for f in flags},
                         {"SEVERE", "HIGH", "MODERATE", "LOW", "INFO"})
        tpls = self.get("/rest/v1/report-templates",
                        include="reportFields").json["data"]
        self.assertGreaterEqual(len(tpls), 3)
        tags = {f["fieldTag"] for t in tpls for f in t["reportFields"]}
        self.assertTrue({"hours", "photo", "summary"} <= tags)
        with_photo = self.get("/rest/v1/reports", limit=1000, include=(
            "reportFields"), **{"id:gt": 0}).json["data"]
        photos = [f["value"] for r in with_photo for f in r["reportFields"]
                  if f["fieldTag"] == "photo" and f["value"]]
        self.assertGreater(len(photos), 10)
        img = self.sim.request("GET", photos[0][len(self.sim.base):])
        self.assertEqual(img.status, 200)
        self.assertEqual(img.body[:8], b"\x89PNG\r\n\x1a\n")
        positions = self.get("/rest/v1/positions", limit=1000,
                             include="contract").json["data"]
        billable = [p for p in positions if not p["nonBillable"]]
        self.assertTrue(all(isinstance(p["contract"], dict)
                            for p in billable))
        self.assertTrue(any(p["nonBillable"] and "contract" not in p
                            for p in positions))

    def test_same_seed_same_data(self):
        other = Sim(*self.sim_args)
        try:
            t = other.token()
            for path, params in (("/rest/v1/reports", {
                    "id:lte": 10200, "include": "reportFields,updatedOn",
                    "limit": 1000}), ("/rest/v1/clients", {"limit": 1000})):
                mine = self.get(path, **params).body
                theirs = other.get(path, t, **params).body
                strip = lambda b, base: b.replace(  # noqa: E731
                    base.replace("/", "\\/").encode(), b"BASE")
                self.assertEqual(strip(mine, self.sim.base),
                                 strip(theirs, other.base))
        finally:
            other.stop()


if __name__ == "__main__":
    unittest.main()
