"""Request budget (429 + Retry-After), gateway timeout (504) and fault
injection switched at run time through /__sim/faults."""

import http.client
import time
import unittest

from simtest import SimTestCase


class LimitsAndFaultsTests(SimTestCase):
    sim_args = ("--quiet", "--gateway-timeout", "0.5")

    def setUp(self):
        SimTestCase.setUp(self)
        self.token = self.sim.token()

    def flags(self):
        return self.sim.get("/rest/v1/report-flags", self.token)

    def post_item(self, description):
        state = self.sim.admin("GET", "state")["tenant"]
        return self.sim.request(
            "POST", "/rest/v1/billing-adhoc-items", token=self.token,
            json_body={"price": 10, "quantity": 1, "serviceDate":
                       "2026-11-27", "description": description,
                       "account": state["sites"][0], "contract": 300,
                       "billItem": state["billItems"]["ADH"]})

    def items_with(self, description):
        self.sim.admin("DELETE", "faults")
        return self.sim.get("/rest/v1/billing-adhoc-items", self.token,
                            description=description).json["meta"]["count"]

    # -- 429 ---------------------------------------------------------------

    def test_spent_budget_is_429_with_retry_after(self):
        self.sim.admin("POST", "reset")
        self.sim.admin("POST", "config", {"rate_limit_requests": 5,
                                          "rate_limit_window": 60})
        token = self.sim.token()            # request 1 of 5
        for _ in range(4):
            self.assertEqual(self.sim.get("/rest/v1/report-flags",
                                          token).status, 200)
        resp = self.sim.get("/rest/v1/report-flags", token)
        self.assertEqual(resp.status, 429)
        self.assertEqual(resp.json["status"], 429)
        wait = int(resp.header("Retry-After"))
        self.assertTrue(1 <= wait <= 60, wait)
        # refused requests do not spend budget: still refused, same order
        again = self.sim.get("/rest/v1/report-flags", token)
        self.assertEqual(again.status, 429)
        self.assertLessEqual(int(again.header("Retry-After")), wait)
        self.assertEqual(self.sim.admin("GET", "state")["counters"]
                         ["http.429"], 2)

    def test_waiting_retry_after_lets_requests_through_again(self):
        # changing the budget starts an empty window
        self.sim.admin("POST", "config", {"rate_limit_requests": 1,
                                          "rate_limit_window": 3})
        self.assertEqual(self.sim.get("/rest/v1/bill-items",
                                      self.token).status, 200)
        resp = self.sim.get("/rest/v1/bill-items", self.token)
        self.assertEqual(resp.status, 429)
        wait = int(resp.header("Retry-After"))
        self.assertTrue(1 <= wait <= 3, wait)
        time.sleep(wait + 0.1)
        self.assertEqual(self.sim.get("/rest/v1/bill-items",
                                      self.token).status, 200)

    def test_zero_budget_means_unlimited(self):
        self.sim.admin("POST", "config", {"rate_limit_requests": 0})
        for _ in range(30):
            self.assertEqual(self.flags().status, 200)

    # -- 504 ---------------------------------------------------------------

    def test_timeout_fault_is_504_after_the_gateway_timeout(self):
        self.sim.admin("POST", "faults", {"kind": "timeout", "count": 1,
                                          "path": "/rest/v1/report-flags"})
        start = time.monotonic()
        resp = self.flags()
        self.assertEqual(resp.status, 504)
        self.assertGreaterEqual(time.monotonic() - start, 0.5)
        self.assertEqual(resp.json["status"], 504)
        self.assertEqual(self.flags().status, 200)   # count was 1

    def test_slow_answer_past_the_gateway_timeout_is_504(self):
        self.sim.admin("POST", "faults", {"rules": [
            {"kind": "delay", "seconds": 5, "count": 1,
             "path": "/rest/v1/report-flags"},
            {"kind": "delay", "seconds": 0.1, "count": 1,
             "path": "/rest/v1/report-flags"}]})
        self.assertEqual(self.flags().status, 504)
        self.assertEqual(self.flags().status, 200)   # slow but in time
        self.assertEqual(self.sim.admin("GET", "state")["counters"]
                         ["http.504"], 1)

    def test_timeout_after_the_write_committed(self):
        self.sim.admin("POST", "faults", {
            "kind": "timeout", "apply": True, "count": 1, "method": "POST",
            "path": "/rest/v1/billing-adhoc-items"})
        self.assertEqual(self.post_item("stored-anyway").status, 504)
        self.assertEqual(self.items_with("stored-anyway"), 1)

    # -- other faults ------------------------------------------------------

    def test_status_fault_storm_then_recovery(self):
        self.sim.admin("PUT", "faults", {"kind": "status", "status": 500,
                                         "count": 3})
        codes = [self.flags().status for _ in range(4)]
        self.assertEqual(codes, [500, 500, 500, 200])

    def test_status_fault_can_carry_retry_after(self):
        self.sim.admin("POST", "faults", {"kind": "status", "status": 429,
                                          "retryAfter": 7, "count": 1})
        resp = self.flags()
        self.assertEqual(resp.status, 429)
        self.assertEqual(resp.header("Retry-After"), "7")

    def test_faults_match_method_and_path(self):
        self.sim.admin("POST", "faults", {"kind": "status", "status": 503,
                                          "method": "POST",
                                          "path": "/rest/v1/billing"})
        self.assertEqual(self.flags().status, 200)
        self.assertEqual(self.post_item("never").status, 503)
        self.assertEqual(self.items_with("never"), 0)

    def test_dropped_connection_gets_no_answer(self):
        self.sim.admin("POST", "faults", {"kind": "drop", "count": 1})
        with self.assertRaises((http.client.HTTPException, OSError)):
            self.flags()
        self.assertEqual(self.flags().status, 200)

    def test_drop_after_commit_stores_the_item_but_never_answers(self):
        self.sim.admin("POST", "faults", {
            "kind": "drop_after", "count": 1, "method": "POST",
            "path": "/rest/v1/billing-adhoc-items"})
        with self.assertRaises((http.client.HTTPException, OSError)):
            self.post_item("lost-answer")
        self.assertEqual(self.items_with("lost-answer"), 1)

    def test_probability_rules_fire_some_of_the_time(self):
        self.sim.admin("POST", "faults", {"kind": "status", "status": 502,
                                          "probability": 0.5,
                                          "path": "/rest/v1/report-flags"})
        codes = [self.flags().status for _ in range(40)]
        self.assertIn(502, codes)
        self.assertIn(200, codes)

    def test_faults_can_be_listed_and_cleared(self):
        self.sim.admin("POST", "faults", {"kind": "status", "status": 500})
        listed = self.sim.admin("GET", "faults")["faults"]
        self.assertEqual(len(listed), 1)
        self.assertEqual(self.flags().status, 500)
        self.sim.admin("DELETE", "faults")
        self.assertEqual(self.flags().status, 200)

    def test_bad_fault_rules_are_refused(self):
        for rule in ({"kind": "explode"}, {"kind": "delay"},
                     {"kind": "status", "count": "many"}):
            resp = self.sim.request("POST", "/__sim/faults", json_body=rule)
            self.assertEqual(resp.status, 400, rule)

    def test_bad_config_is_refused(self):
        for cfg in ({"gateway_timeout": "soon"}, {"no_such_key": 1},
                    {"rate_limit_requests": -1},
                    {"item_envelope": "xml"}):
            resp = self.sim.request("POST", "/__sim/config", json_body=cfg)
            self.assertEqual(resp.status, 400, cfg)

    def test_bare_item_envelope_is_switchable(self):
        self.sim.admin("POST", "config", {"item_envelope": "bare"})
        body = self.sim.get("/rest/v1/bill-items/700", self.token).json
        self.assertEqual(body["id"], 700)
        self.sim.admin("POST", "config", {"item_envelope": "data"})
        body = self.sim.get("/rest/v1/bill-items/700", self.token).json
        self.assertEqual(body["data"]["id"], 700)


if __name__ == "__main__":
    unittest.main()
