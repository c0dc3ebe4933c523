"""Every response the simulator gives for the tenant resources validates
against the item definitions of TrackTik's OpenAPI schema."""

import unittest

from openapi_validator import Validator, find_schema
from simtest import RESOURCES, SimTestCase

SCHEMA_PATH = find_schema()

ITEM = {"reports": "ReportsItem", "clients": "ClientsItem",
        "accounts": "AccountsItem", "positions": "PositionsItem",
        "report-templates": "ReportTemplatesItem",
        "report-flags": "ReportFlagsItem", "contracts": "ContractsItem",
        "bill-items": "BillItemsItem",
        "billing-adhoc-items": "BillingAdhocItemsItem"}

# every include each resource supports, nested ones too
INCLUDES = {
    "reports": "reportTemplate,account,position,reportFields,"
               "reportFields.templateField,reportFlag,position.contract,"
               "position.account,uri,resourceType,createdOn,updatedOn",
    "clients": "name,parentClient,region,positions,address,timeZone,tags,"
               "uri,resourceType,createdOn,updatedOn",
    "accounts": "address,region,timeZone,status,positions,uri,"
                "resourceType,createdOn,updatedOn",
    "positions": "account,contract,uri,resourceType,createdOn,updatedOn",
    "report-templates": "reportFields,reportFields.reportTemplate,uri,"
                        "resourceType,createdOn,updatedOn",
    "report-flags": "region,uri,resourceType,createdOn,updatedOn",
    "contracts": "account,details,positions,uri,resourceType,createdOn,"
                 "updatedOn",
    "bill-items": "region,uri,resourceType",
    "billing-adhoc-items": "account,contract,billItem,uri,resourceType,"
                           "createdOn,updatedOn",
}

# league/oauth2-server's BearerTokenResponse, which TrackTik's token
# endpoint answers with (the OpenAPI file does not describe it)
TOKEN_RESPONSE = {
    "type": "object",
    "required": ["token_type", "expires_in", "access_token", "refresh_token"],
    "properties": {"token_type": {"type": "string", "enum": ["Bearer"]},
                   "expires_in": {"type": "integer", "minimum": 1},
                   "access_token": {"type": "string", "minLength": 20},
                   "refresh_token": {"type": "string", "minLength": 20}},
    "additionalProperties": False,
}
OAUTH_ERROR = {
    "type": "object", "required": ["error", "error_description"],
    "properties": {"error": {"type": "string", "enum": [
        "invalid_request", "invalid_client", "invalid_grant",
        "unsupported_grant_type"]},
        "error_description": {"type": "string"},
        "hint": {"type": "string"}, "message": {"type": "string"}},
    "additionalProperties": False,
}
ERROR = {"type": "object", "required": ["status", "error"],
         "properties": {"status": {"type": "integer", "minimum": 100,
                                   "maximum": 600},
                        "error": {"type": "string"}},
         "additionalProperties": False}


def month_windows(state):
    """Filters that together cover every report: 1-month windows."""
    import datetime
    anchor = datetime.datetime.fromisoformat(state["anchor"])
    start = anchor - datetime.timedelta(days=60)
    end = anchor + datetime.timedelta(days=2)
    out = []
    while start < end:
        stop = start + datetime.timedelta(days=28)
        out.append("%s|%s" % (start.strftime("%Y-%m-%d %H:%M:%S"),
                              stop.strftime("%Y-%m-%d %H:%M:%S")))
        start = stop
    return out


@unittest.skipUnless(SCHEMA_PATH, "TrackTik OpenAPI schema not found (set "
                     "TRACKTIK_OPENAPI to the tenant's OpenAPI file)")
class SchemaConformanceTests(SimTestCase):
    sim_args = ("--quiet", "--history", "150")

    @classmethod
    def setUpClass(cls):
        SimTestCase.setUpClass.__func__(cls)
        cls.v = Validator.load(SCHEMA_PATH)

    def assertValid(self, instance, schema, what, strict=True):
        errors = self.v.validate(instance, schema, strict=strict)
        self.assertEqual(errors, [], "%s does not validate against %s" % (
            what, schema if isinstance(schema, str) else "its schema"))

    def responses(self, token):
        """(what, list or single item response) for every resource, with
        and without includes, every item fetched by id as well."""
        state = self.sim.admin("GET", "state")
        for res in RESOURCES:
            variants = [{}, {"include": INCLUDES[res]}]
            filters = [{}]
            if res == "reports":
                filters = [{"reportDateTime:between": w}
                           for w in month_windows(state)]
            seen = set()
            for extra in variants:
                for flt in filters:
                    params = dict(flt, limit=1000, includeInactive="true",
                                  **extra)
                    resp = self.sim.get("/rest/v1/" + res, token, **params)
                    self.assertEqual(resp.status, 200, resp.body[:200])
                    body = resp.json
                    yield "GET /%s %s" % (res, params), res, body, True
                    for item in body["data"]:
                        seen.add(item["id"])
            self.assertTrue(seen, "no %s at all" % res)
            for oid in sorted(seen):
                for extra in variants:
                    resp = self.sim.get("/rest/v1/%s/%d" % (res, oid), token,
                                        **extra)
                    self.assertEqual(resp.status, 200)
                    yield "GET /%s/%d %s" % (res, oid, extra), res, \
                        resp.json, False

    def test_every_resource_response_validates_against_item_schema(self):
        token = self.sim.token()
        for i in range(3):
            resp = self.sim.request("POST", "/rest/v1/billing-adhoc-items",
                                    token=token, json_body={
                                        "price": 95.5, "quantity": 1 - i,
                                        "serviceDate": "2026-11-20",
                                        "description": "schema test %d" % i,
                                        "account": 102, "contract": 300,
                                        "billItem": 700, "taxClass": 5})
            self.assertEqual(resp.status, 200, resp.body)
            self.assertValid(resp.json["data"], ITEM["billing-adhoc-items"],
                             "POST /billing-adhoc-items")
        checked = 0
        for what, res, body, is_list in self.responses(token):
            if is_list:
                self.assertEqual(set(body), {"meta", "data"}, what)
                meta = body["meta"]
                for key in ("count", "itemCount", "limit", "offset"):
                    self.assertIsInstance(meta[key], int, what)
                self.assertEqual(meta["itemCount"], len(body["data"]))
                items = body["data"]
            else:
                self.assertEqual(set(body), {"meta", "data"}, what)
                items = [body["data"]]
            for item in items:
                self.assertValid(item, ITEM[res], "%s item %s" % (
                    what, item.get("id")))
                checked += 1
        self.assertGreater(checked, 500)

    def test_error_responses_have_the_error_shape(self):
        token = self.sim.token()
        cases = [self.sim.get("/rest/v1/reports", token),
                 self.sim.get("/rest/v1/reports/1", token),
                 self.sim.get("/rest/v1/clients", "not-a-token"),
                 self.sim.get("/rest/v1/clients", token, include="bogus"),
                 self.sim.request("POST", "/rest/v1/billing-adhoc-items",
                                  token=token, json_body={"price": 1})]
        for resp in cases:
            self.assertIn(resp.status, (400, 401, 404))
            self.assertValid(resp.json, ERROR, "error %d" % resp.status)
            self.assertValid(resp.json, "Error", "error %d" % resp.status)
            self.assertEqual(resp.json["status"], resp.status)

    def test_token_responses_have_the_oauth_shapes(self):
        ok = self.sim.password_grant()
        self.assertValid(ok, TOKEN_RESPONSE, "password grant")
        refreshed = self.sim.token_response(
            grant_type="refresh_token", client_id="demo",
            client_secret="demo-secret", refresh_token=ok["refresh_token"])
        self.assertValid(refreshed.json, TOKEN_RESPONSE, "refresh grant")
        again = self.sim.token_response(
            grant_type="refresh_token", client_id="demo",
            client_secret="demo-secret", refresh_token=ok["refresh_token"])
        self.assertValid(again.json, OAUTH_ERROR, "refresh reuse")

    def test_validator_rejects_what_the_schema_forbids(self):
        good = {"id": 1, "status": "APPROVED",
                "reportDateTime": "2026-11-01T10:00:00+00:00",
                "reportFlag": 3}
        self.assertEqual(self.v.validate(good, "ReportsItem", strict=True),
                         [])
        bad = [dict(good, status="DONE"),
               dict(good, id="1"),
               dict(good, reportDateTime="2026-11-01 10:00"),
               dict(good, reportFlag={"severityLevel": "URGENT"}),
               dict(good, reportFlag=None),
               dict(good, reportFields=[{"archived": "no"}]),
               dict(good, inventedField=1)]
        for inst in bad:
            self.assertNotEqual(self.v.validate(inst, "ReportsItem",
                                                strict=True), [], inst)
        self.assertNotEqual(self.v.validate({}, "BillingAdhocItemsPost"), [])
        self.assertNotEqual(self.v.validate(
            {"status": 99, "error": "x"}, "Error"), [])


if __name__ == "__main__":
    unittest.main()
