"""POST /rest/v1/billing-adhoc-items: the validation TrackTik applies
and the stored item.  BillingItems is part of SimState."""

import datetime
import math
import re

from tt_errors import ApiError
from tt_oauth import API_USER_ID
from tt_tenant import UTC, iso


class BillingItems:
    """Ad-hoc billing items; lock, tenant and counters from SimState."""

    def create_adhoc_item(self, body):
        if not isinstance(body, dict):
            raise ApiError(400, "The request body must be a JSON object")
        for key in ("price", "quantity", "serviceDate", "description",
                    "account", "contract", "billItem"):
            if body.get(key) is None or body.get(key) == "":
                raise ApiError(400, "Validation failed: `%s` is required"
                               % key)

        def number(key):
            v = body[key]
            if isinstance(v, bool):
                raise ApiError(400, "Validation failed: `%s` must be a "
                               "number" % key)
            if isinstance(v, (int, float)):
                return v
            try:
                f = float(v)
            except (TypeError, ValueError):
                raise ApiError(400, "Validation failed: `%s` must be a "
                               "number" % key)
            if not math.isfinite(f):
                raise ApiError(400, "Validation failed: `%s` must be a "
                               "number" % key)
            return int(f) if f == int(f) and "." not in str(v) else f

        def ref(key, res):
            v = body[key]
            if isinstance(v, bool) or not re.fullmatch(r"\d+", str(v)):
                raise ApiError(400, "Validation failed: `%s` must be an id"
                               % key)
            if self.tenant.get(res, int(v)) is None:
                raise ApiError(400, "Validation failed: `%s` %s does not "
                               "exist" % (key, v))
            return int(v)
        price, quantity = number("price"), number("quantity")
        date = body["serviceDate"]
        try:
            datetime.datetime.strptime(str(date), "%Y-%m-%d")
        except ValueError:
            raise ApiError(400, "Validation failed: `serviceDate` must be a "
                           "date (YYYY-MM-DD)")
        if not isinstance(body["description"], str):
            raise ApiError(400, "Validation failed: `description` must be "
                           "a string")
        with self.lock:
            item = {"status": "NOT_PROCESSED", "price": price,
                    "quantity": quantity, "serviceDate": str(date),
                    "description": body["description"],
                    "account": ref("account", "clients"),
                    "contract": ref("contract", "contracts"),
                    "billItem": ref("billItem", "bill-items")}
            if body.get("taxClass") not in (None, ""):
                if not re.fullmatch(r"\d+", str(body["taxClass"])):
                    raise ApiError(400, "Validation failed: `taxClass` must "
                                   "be an id")
                item["taxClass"] = int(body["taxClass"])
            now = iso(datetime.datetime.now(UTC))
            item.update({"createdBy": API_USER_ID, "createdOn": now,
                         "updatedBy": API_USER_ID, "updatedOn": now})
            item = self.tenant.add("billing-adhoc-items", item, 60001)
            self.counters["billing.created"] += 1
            return self.envelope("billing-adhoc-items", self.tenant.render(
                "billing-adhoc-items", item))
