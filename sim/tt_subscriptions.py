"""Webhook subscriptions made through the API: POST
/rest/v1/events-subscriptions and its suspend/enable/archive actions.
Subscriptions is part of SimState; the deliverer (tt_delivery) reads
what it stores."""

import datetime
import re

from tt_errors import ApiError
from tt_oauth import API_USER_ID
from tt_tenant import UTC, iso


class Subscriptions:
    """Subscription writes; lock, tenant, counters and deliverer from
    SimState."""

    def create_subscription(self, body):
        """POST /rest/v1/events-subscriptions (EventsSubscriptionsPost)."""
        if not isinstance(body, dict):
            raise ApiError(400, "The request body must be a JSON object")
        for key in ("customId", "name", "events", "url", "secretHeaderName",
                    "secret"):
            if body.get(key) in (None, "", []):
                raise ApiError(400, "Validation failed: `%s` is required"
                               % key)
        for key in ("customId", "name", "url", "secretHeaderName", "secret"):
            if not isinstance(body[key], str):
                raise ApiError(400, "Validation failed: `%s` must be a "
                               "string" % key)
        events = body["events"]
        if not isinstance(events, list) or not all(
                isinstance(e, str) and
                re.fullmatch(r"[a-z]+:[a-z-]+:[a-z-]+", e) for e in events):
            raise ApiError(400, "Validation failed: `events` is a list of "
                           "domain:entity:trigger names")
        if len({e.split(":")[1] for e in events}) != 1:
            raise ApiError(400, "Validation failed: all events should be "
                           "for the same resource")
        if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", body["url"]):
            raise ApiError(400, "Validation failed: `url` must be an http(s) "
                           "URL")
        if not re.fullmatch(r"[A-Za-z0-9-]+", body["secretHeaderName"]):
            raise ApiError(400, "Validation failed: `secretHeaderName` must "
                           "be a header name without spaces")
        # optional fields are still checked: TrackTik refuses a value of
        # the wrong type rather than dropping it
        email = body.get("failureEmail")
        if email is not None and not (
                isinstance(email, str) and
                re.fullmatch(r"[^@\s,;]+@[^@\s,;]+", email)):
            raise ApiError(400, "Validation failed: `failureEmail` must be "
                           "an email address")
        for key in ("contextFilters", "userDefinedFilters"):
            if body.get(key) is not None and not isinstance(body[key],
                                                            dict):
                raise ApiError(400, "Validation failed: `%s` must be a "
                               "JSON object" % key)
        context = body.get("contextFilters") or {}
        for f in context.get("filters", []) if isinstance(
                context.get("filters", []), list) else [None]:
            if not isinstance(f, dict) or not isinstance(f.get("tag"), str) \
                    or not re.fullmatch(r"context\.(region\.\d+|\*)",
                                        f["tag"]):
                raise ApiError(400, "Validation failed: `contextFilters` "
                               "filters are {\"tag\": \"context.region.<id>"
                               "\", \"includeChildren\": bool}")
        shape = body.get("entityResponse")
        if shape is not None:
            if not isinstance(shape, dict) or not all(
                    isinstance(shape.get(k, []), list) and
                    all(isinstance(x, str) for x in shape.get(k, []))
                    for k in ("fields", "include")):
                raise ApiError(400, "Validation failed: `entityResponse` is "
                               "{\"fields\": [...], \"include\": [...]}")
            if events[0].split(":")[1] == "reports":
                try:
                    self.tenant.check_includes("reports",
                                               shape.get("include", []))
                except ValueError as e:
                    raise ApiError(400, "Validation failed: entityResponse: "
                                   "%s" % e)
        with self.lock:
            now = iso(datetime.datetime.now(UTC))
            sub = {"customId": body["customId"], "name": body["name"],
                   "events": list(events), "url": body["url"],
                   "createdBy": API_USER_ID, "createdOn": now,
                   "updatedBy": API_USER_ID, "updatedOn": now,
                   "_secret": body["secret"],
                   "_secretHeaderName": body["secretHeaderName"],
                   "_status": "active"}
            for key in ("entityResponse", "contextFilters",
                        "userDefinedFilters"):
                if isinstance(body.get(key), dict):
                    sub[key] = body[key]
            if email is not None:
                sub["failureEmail"] = email
            sub = self.tenant.add("events-subscriptions", sub, 1)
            self.counters["subscriptions.created"] += 1
            item = self.tenant.render("events-subscriptions", sub)
        if self.deliverer is not None:
            self.deliverer.wake()
        return self.envelope("events-subscriptions", item)

    def subscription_action(self, sub_id, action, body):
        """POST /rest/v1/events-subscriptions/{id}/actions/{action}."""
        with self.lock:
            sub = self.tenant.get("events-subscriptions", sub_id)
            if sub is None:
                raise ApiError(404, "Not found: events-subscriptions %s"
                               % sub_id)
            if action == "suspend":
                if not isinstance(body, dict) or not body.get("reason"):
                    raise ApiError(400, "Validation failed: `reason` is "
                                   "required")
                if sub["_status"] == "archived":
                    raise ApiError(400, "The subscription is archived")
                sub["_status"] = "suspended"
            elif action == "enable":
                if sub["_status"] == "archived":
                    raise ApiError(400, "The subscription is archived")
                sub["_status"] = "active"
            elif action == "archive":
                sub["_status"] = "archived"
            else:
                raise ApiError(404, "Unknown action: %s" % action)
            sub["updatedOn"] = iso(datetime.datetime.now(UTC))
            item = self.tenant.render("events-subscriptions", sub)
        if self.deliverer is not None:
            self.deliverer.wake()
        return self.envelope("events-subscriptions", item)
