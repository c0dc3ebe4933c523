"""The REST v1 read side: list and single-item GETs with TrackTik's
filters (field:op=value, dates, relations), sort, paging, include,
fields and the meta/data envelope.  RestQueries is part of SimState."""

import calendar
import datetime
import re

from tt_errors import ApiError
from tt_tenant import DATE_FIELDS, DATETIME_FIELDS, L, R, SPECS, UTC

REPORT_REQUIRED_FILTERS = {"reportDateTime", "submittedOn", "position",
                           "approvedOn", "id"}
INACTIVE = {"INACTIVE", "CLOSED", "DISABLED", "CANCELLED"}
CONTROL_PARAMS = {"limit", "offset", "include", "sort", "fields",
                  "includeInactive", "scope", "q", "idIn"}
FILTER_OPS = {"", "not", "in", "gt", "gte", "lt", "lte", "contains",
              "startswith", "endswith", "isnull", "isnotnull", "between",
              "before", "after", "inset"}


# -- dates in filters --------------------------------------------------

def parse_when(text):
    """A filter date as TrackTik accepts it -> (aware datetime, date_only).
    Naive values are taken as UTC."""
    t = text.strip()
    low = t.lower()
    today = datetime.datetime.now(UTC).replace(hour=0, minute=0, second=0,
                                               microsecond=0)
    if low == "now":
        return datetime.datetime.now(UTC).replace(microsecond=0), False
    rel = {"today": 0, "yesterday": -1, "tomorrow": 1}
    if low in rel:
        return today + datetime.timedelta(days=rel[low]), True
    if re.fullmatch(r"\d{9,11}", t):
        return datetime.datetime.fromtimestamp(int(t), UTC), False
    for fmt, date_only in (("%Y-%m-%d", True), ("%m/%d/%Y", True),
                           ("%d-%m-%Y", True), ("%Y-%m-%d %H:%M:%S", False),
                           ("%Y-%m-%d %H:%M", False)):
        try:
            return datetime.datetime.strptime(t, fmt).replace(
                tzinfo=UTC), date_only
        except ValueError:
            pass
    try:
        dt = datetime.datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, "Invalid date value: %s" % text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC), False


SPEC_DICT = {res: dict(spec) for res, spec in SPECS.items()}


def add_month(dt):
    year, month = (dt.year + 1, 1) if dt.month == 12 else (dt.year,
                                                            dt.month + 1)
    day = min(dt.day, calendar.monthrange(year, month)[1])
    return dt.replace(year=year, month=month, day=day)


def end_of(dt, date_only):
    if date_only:
        return dt + datetime.timedelta(days=1, microseconds=-1)
    return dt



class RestQueries:
    """Reads of tenant data; the state's lock, config and tenant come
    from SimState."""

    def _raw(self, res, obj, field):
        """The value a filter or sort sees: relations as ids, dotted names
        looked up on the related object."""
        spec = SPEC_DICT[res]
        if "." in field:
            head, _, rest = field.partition(".")
            kind = spec.get(head)
            if not isinstance(kind, R):
                raise ApiError(400, "Invalid filter: %s" % field)
            if rest == "id":
                return obj.get(head)
            target = self.tenant.get(kind.target, obj.get(head))
            if kind.target not in SPECS or \
                    rest not in dict(SPECS[kind.target]):
                raise ApiError(400, "Invalid filter: %s" % field)
            return None if target is None else target.get(rest)
        kind = spec.get(field)
        if kind is None or isinstance(kind, L):
            raise ApiError(400, "Invalid filter: %s" % field)
        return obj.get(field)

    def _filter(self, res, objs, field, op, value):
        base = field.split(".")[-1]
        self._check_field(res, field)     # even when nothing is left
        if op not in FILTER_OPS:
            raise ApiError(400, "Invalid filter operator: %s:%s" % (field, op))
        if op == "in" and len(value.split(",")) > 100:
            raise ApiError(400, "The pseudo filter :in accepts at most 100 "
                           "values (%s)" % field)
        is_dt = base in DATETIME_FIELDS and "." not in field
        is_date = base in DATE_FIELDS and "." not in field
        spec = dict(SPECS[res])
        is_rel = isinstance(spec.get(field.split(".")[0]), R) and \
            (field.endswith(".id") or "." not in field)
        if op == "between":
            parts = value.split("|")
            if len(parts) != 2:
                raise ApiError(400, "The pseudo filter :between takes two "
                               "values separated by | (%s)" % field)
            if is_dt or is_date:
                (lo, _), (hi, hi_date) = parse_when(parts[0]), \
                    parse_when(parts[1])
                if hi < lo:
                    raise ApiError(400, "Invalid range for %s:between" % field)
                if is_dt and hi > add_month(lo):
                    raise ApiError(400, "The maximum range for the :between "
                                   "pseudo filter on %s is 1 month" % field)
                hi = end_of(hi, hi_date)
        if is_dt or is_date:
            def conv(raw):
                if is_dt:
                    # stored as "YYYY-MM-DDTHH:MM:SS+00:00"; fromisoformat
                    # is what keeps a 20,000-report listing fast
                    return datetime.datetime.fromisoformat(raw)
                return datetime.datetime.strptime(raw, "%Y-%m-%d").replace(
                    tzinfo=UTC)
        else:
            conv = None
        numeric = field == "id" or is_rel
        out = []
        for obj in objs:
            raw = self._raw(res, obj, field)
            if op == "isnull":
                if raw is None or raw == "":
                    out.append(obj)
                continue
            if op == "isnotnull":
                if raw is not None and raw != "":
                    out.append(obj)
                continue
            if raw is None:
                if op == "not":
                    out.append(obj)
                continue
            if conv:
                have = conv(raw)
                if op == "between":
                    ok = lo <= have <= hi
                else:
                    want, date_only = parse_when(value) if op != "in" else \
                        (None, False)
                    if op == "":
                        ok = (want <= have <= end_of(want, date_only))
                    elif op == "not":
                        ok = not (want <= have <= end_of(want, date_only))
                    elif op in ("gt", "after"):
                        ok = have > end_of(want, date_only)
                    elif op == "gte":
                        ok = have >= want
                    elif op in ("lt", "before"):
                        ok = have < want
                    elif op == "lte":
                        ok = have <= end_of(want, date_only)
                    else:
                        raise ApiError(400, "Invalid filter operator for a "
                                       "date: %s:%s" % (field, op))
                if ok:
                    out.append(obj)
                continue
            if numeric or isinstance(raw, (int, float)) and \
                    not isinstance(raw, bool):
                def num(v):
                    try:
                        return float(v)
                    except ValueError:
                        raise ApiError(400, "Invalid number for %s: %s" %
                                       (field, v))
                have = float(raw)
                if op == "in":
                    ok = have in [num(v) for v in value.split(",")]
                elif op == "between":
                    ok = num(parts[0]) <= have <= num(parts[1])
                elif op in ("contains", "startswith", "endswith", "inset"):
                    ok = self._text_op(op, str(raw), value)
                else:
                    want = num(value)
                    ok = {"": have == want, "not": have != want,
                          "gt": have > want, "gte": have >= want,
                          "lt": have < want, "lte": have <= want,
                          "before": have < want, "after": have > want}[op]
                if ok:
                    out.append(obj)
                continue
            if isinstance(raw, bool):
                raw = "true" if raw else "false"
                value_n = {"1": "true", "0": "false"}.get(value.lower(),
                                                          value.lower())
            else:
                value_n = value
            if isinstance(raw, list):
                raw = ",".join(raw)
            if self._text_op(op, str(raw), value_n):
                out.append(obj)
        return out

    @staticmethod
    def _text_op(op, raw, value):
        a, b = raw.casefold(), value.casefold()
        if op == "":
            return a == b
        if op == "not":
            return a != b
        if op == "in":
            return a in [v.casefold() for v in value.split(",")]
        if op == "contains":
            return b in a
        if op == "startswith":
            return a.startswith(b)
        if op == "endswith":
            return a.endswith(b)
        if op == "inset":
            have = {x.strip() for x in a.split(",")}
            if "|" in b:
                return any(x in have for x in b.split("|"))
            return all(x in have for x in b.split(","))
        if op in ("gt", "after"):
            return a > b
        if op == "gte":
            return a >= b
        if op in ("lt", "before"):
            return a < b
        if op == "lte":
            return a <= b
        raise ApiError(400, "Invalid filter operator: %s" % op)

    def list_items(self, res, params):
        """GET /rest/v1/{res}: the meta/data envelope."""
        single = {}
        filters = []
        for key, value in params:
            if key in CONTROL_PARAMS:
                single[key] = value
            else:
                field, _, op = key.partition(":")
                filters.append((field, op.lower(), value))
        limit = single.get("limit", "100")
        offset = single.get("offset", "0")
        if not re.fullmatch(r"\d+", limit) or int(limit) < 1:
            raise ApiError(400, "Invalid limit: %s" % limit)
        if not re.fullmatch(r"\d+", offset):
            raise ApiError(400, "Invalid offset: %s" % offset)
        limit, offset = min(int(limit), 1000), int(offset)
        includes = [i.strip() for i in single.get("include", "").split(",")
                    if i.strip()]
        fields = [f.strip() for f in single.get("fields", "").split(",")
                  if f.strip()]
        scope = single.get("scope")
        if "idIn" in single:
            filters.append(("id", "in", single["idIn"]))
        if res == "reports" and not scope and not any(
                f.split(".")[0] in REPORT_REQUIRED_FILTERS
                for f, _, _ in filters):
            raise ApiError(400, "At least one of the filters (on properties "
                           "or scope) is required: reportDateTime, "
                           "submittedOn, position, approvedOn, id")
        try:
            self.tenant.check_includes(res, includes + [
                f.split(":")[0] for f in fields if f.split(":")[0] in
                dict(SPECS[res])])
        except ValueError as e:
            raise ApiError(400, str(e))
        with self.lock:
            objs = list(self.tenant.table(res).values())
            if scope:
                for name in re.split(r"[,|]", scope):
                    if not (res == "reports" and name == "HAS_INCIDENT"):
                        raise ApiError(400, "Invalid scope: %s" % name)
                objs = [o for o in objs if o.get("reportFlag")]
            explicit_status = any(f == "status" for f, _, _ in filters)
            if single.get("includeInactive", "").lower() not in ("true", "1") \
                    and not explicit_status and res != "reports":
                objs = [o for o in objs if o.get("status") not in INACTIVE]
            for field, op, value in filters:
                objs = self._filter(res, objs, field, op, value)
            if "q" in single:
                q = single["q"].casefold()
                objs = [o for o in objs if any(
                    isinstance(v, str) and q in v.casefold()
                    for k, v in o.items() if not k.startswith("_"))]
            objs.sort(key=lambda o: o["id"])
            for key in reversed([s.strip() for s in
                                 single.get("sort", "").split(",")
                                 if s.strip()]):
                desc = key.startswith("-")
                name = key.lstrip("-+")
                self._check_field(res, name)
                objs.sort(key=lambda o: self._sort_key(res, o, name),
                          reverse=desc)
            page = objs[offset:offset + limit]
            data = [self.shape(res, o, includes, fields) for o in page]
        return {"meta": {"count": len(objs), "request": [res],
                         "itemCount": len(data),
                         "security": self._security(res),
                         "debug": None, "resource": res,
                         "limit": limit, "offset": offset},
                "data": data}

    def _check_field(self, res, name):
        self._raw(res, {}, name)

    def _sort_key(self, res, obj, name):
        v = self._raw(res, obj, name)
        if v is None:
            return (0, "")
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return (1, v)
        if name in DATETIME_FIELDS and isinstance(v, str):
            # date-times sort by the instant, whatever their offset
            try:
                return (1, datetime.datetime.fromisoformat(v).timestamp())
            except ValueError:
                pass
        return (2, str(v))

    @staticmethod
    def _security(res):
        return {"granted": True, "requested": "admin:%s:view" % res,
                "grantedBy": "admin:*", "scope": None}

    def shape(self, res, obj, includes, fields):
        top = [f.split(":")[0] for f in fields]
        out = self.tenant.render(res, obj, list(includes) + [
            t for t in top if t in dict(SPECS[res])])
        if not fields:
            return out
        shaped = {}
        for f in fields:
            name, _, alias = f.partition(":")
            if name in out:
                shaped[alias or name] = out[name]
        return shaped

    def get_item(self, res, oid, params):
        single = dict(params)
        includes = [i.strip() for i in single.get("include", "").split(",")
                    if i.strip()]
        fields = [f.strip() for f in single.get("fields", "").split(",")
                  if f.strip()]
        try:
            self.tenant.check_includes(res, includes)
        except ValueError as e:
            raise ApiError(400, str(e))
        with self.lock:
            obj = self.tenant.get(res, oid)
            if obj is None:
                raise ApiError(404, "Not found: %s %s" % (res, oid))
            item = self.shape(res, obj, includes, fields)
        return self.envelope(res, item)

    def envelope(self, res, item):
        if self.config["item_envelope"] == "bare":
            return item
        return {"meta": {"request": [res, str(item.get("id", ""))],
                         "security": self._security(res), "debug": None,
                         "resource": res},
                "data": item}
