"""The /__sim admin API: health, state, config, faults, reset, token
expiry, template-field flags and the delivery generator's controls.
AdminRoutes is part of the HTTP Handler."""

import datetime
import json
import re
from urllib.parse import parse_qsl

from tt_errors import ApiError
from tt_tenant import UTC


class AdminRoutes:
    """Admin endpoints; _send comes from Handler."""

    def _admin(self, status, obj):
        self._send(status, json.dumps(obj, indent=1).encode() + b"\n")

    def _admin_route(self, path, query, body):
        st = self.server.state
        method = self.command
        try:
            data = {}
            if method in ("POST", "PUT", "PATCH") and body.strip():
                try:
                    data = json.loads(body.decode("utf-8"))
                except (UnicodeDecodeError, ValueError):
                    raise ApiError(400, "admin bodies are JSON")
            if path == "/__sim/health":
                return self._admin(200, {"status": "ok"})
            if path == "/__sim/state" and method == "GET":
                return self._admin(200, st.snapshot())
            if path == "/__sim/config":
                if method in ("POST", "PUT", "PATCH"):
                    if not isinstance(data, dict):
                        raise ApiError(400, "config body is a JSON object")
                    st.set_config(data)
                    if st.deliverer is not None:
                        st.deliverer.wake()
                return self._admin(200, st.public_config())
            if path == "/__sim/faults":
                if method == "DELETE":
                    with st.lock:
                        st.faults = []
                    return self._admin(200, {"faults": []})
                if method in ("POST", "PUT"):
                    if isinstance(data, dict) and "rules" in data:
                        rules = data["rules"]
                        replace = bool(data.get("replace", method == "PUT"))
                    else:
                        rules, replace = [data], method == "PUT"
                    if not isinstance(rules, list):
                        raise ApiError(400, "rules is a list")
                    return self._admin(200, {"faults": st.add_faults(
                        rules, replace)})
                with st.lock:
                    return self._admin(200, {"faults": list(st.faults)})
            if path == "/__sim/reset" and method == "POST":
                st.reset()
                if st.deliverer is not None:
                    st.deliverer.reset()
                return self._admin(200, {"status": "reset"})
            m = re.fullmatch(r"/__sim/resources/report-template-fields/(\d+)",
                             path)
            if m and method == "PATCH":
                # test set-up: mark a template field confidential or
                # adminOnly, as an administrator would in TrackTik
                if not isinstance(data, dict) or not set(data) <= {
                        "confidential", "adminOnly"}:
                    raise ApiError(400, "only confidential and adminOnly "
                                   "can be changed")
                with st.lock:
                    field = st.tenant.get("report-template-fields",
                                          int(m.group(1)))
                    if field is None:
                        raise ApiError(404, "no such template field")
                    for key, value in data.items():
                        field[key] = bool(value)
                    return self._admin(200, dict(field))
            if path == "/__sim/reports" and method == "POST":
                # test set-up: a tenant with a long history, fast
                if not isinstance(data, dict):
                    raise ApiError(400, "reports body is a JSON object")
                return self._admin(200, st.tenant.bulk_reports(
                    data.get("count"), data.get("from"), data.get("to"),
                    data.get("seed", 1), data.get("at")))
            m = re.fullmatch(r"/__sim/reports/(\d+)/update", path)
            if m and method == "POST":
                # a supervisor's change, without a delivery
                with st.lock:
                    rep = st.tenant.get("reports", int(m.group(1)))
                    if rep is None:
                        raise ApiError(404, "no such report")
                    change = st.tenant.update_report(
                        rep, st.tenant.bulk_rng, datetime.datetime.now(UTC))
                    return self._admin(200, {"id": rep["id"],
                                             "change": change,
                                             "updatedOn": rep["updatedOn"]})
            if path == "/__sim/tokens/expire" and method == "POST":
                return self._admin(200, {"expired": st.expire_access_tokens()})
            if path == "/__sim/deliver" and method == "POST":
                if st.deliverer is None:
                    raise ApiError(409, "delivery generator not running")
                if not isinstance(data, dict):
                    raise ApiError(400, "deliver body is a JSON object")
                try:
                    results = st.deliverer.deliver_now(
                        kind=data.get("kind", "new"),
                        count=int(data.get("count", 1)),
                        report=data.get("report"),
                        url=data.get("url"))
                except ValueError as e:
                    raise ApiError(400, str(e))
                return self._admin(200, {"deliveries": results})
            if path == "/__sim/deliveries" and method == "GET":
                if st.deliverer is None:
                    return self._admin(200, {"deliveries": []})
                q = dict(parse_qsl(query))
                return self._admin(200, {"deliveries": st.deliverer.log(
                    int(q.get("limit", 100)))})
            raise ApiError(404, "unknown admin endpoint %s %s" % (method,
                                                                  path))
        except ApiError as e:
            return self._admin(e.status, {"status": e.status,
                                          "error": e.message})
