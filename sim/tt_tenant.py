"""The simulated TrackTik tenant: a guard company's data, generated
deterministically from a seed, and the rules for rendering it the way the
REST API v1 does (relations as ids unless included, on-demand fields only
when asked for, lists on demand).

Field names, enums and which fields are on demand follow the tenant's
OpenAPI schema (TrackTik API - Core - Entities, 2020-01-01).
"""

import datetime
import random
import threading

from tt_errors import ApiError

UTC = datetime.timezone.utc

# field kinds in a resource spec
D = "default"        # scalar, always present when it has a value
O = "ondemand"       # scalar, present only when named in include=


class R:
    """A relation: the id by default, the related object when included."""

    def __init__(self, target):
        self.target = target


class L:
    """A relation list, on demand only."""

    def __init__(self, target, lister):
        self.target = target
        self.lister = lister


def _children(res, fk):
    def lister(store, obj):
        return [o for o in store.table(res).values() if o.get(fk) == obj["id"]]
    return lister


def _fields_of_report(store, obj):
    # indexed: a page of 1,000 reports must not scan every field of a
    # 20,000-report tenant once per report
    return list(store.fields_by_report.get(obj["id"], ()))


def _position_list_for_account(store, obj):
    return [p for p in store.table("positions").values()
            if p.get("account") == obj["id"]]


EMPLOYEES = "employees"   # referenced by id only, not served

COMMON_TAIL = [("uri", O), ("resourceType", O)]
AUDIT = [("createdBy", R(EMPLOYEES)), ("createdOn", O),
         ("updatedBy", R(EMPLOYEES)), ("updatedOn", O)]

SPECS = {
    "reports": [
        ("reportTemplate", R("report-templates")),
        ("reportDateTime", D), ("submittedOn", D),
        ("account", R("accounts")), ("position", R("positions")),
        ("reportFields", L("report-fields", _fields_of_report)),
        ("approvedOn", D), ("status", D), ("approvedBy", R(EMPLOYEES)),
        ("reportFlag", R("report-flags")), ("id", D),
    ] + COMMON_TAIL + AUDIT + [("timeZone", D)],
    "report-fields": [
        ("fieldTag", D), ("report", R("reports")),
        ("templateField", R("report-template-fields")),
        ("value", D), ("valueLabel", O), ("archived", D), ("id", D),
    ] + COMMON_TAIL,
    "report-templates": [
        ("name", D), ("details", D), ("tag", D),
        ("reportFields", L("report-template-fields",
                           _children("report-template-fields", "reportTemplate"))),
        ("adminOnly", D), ("id", D),
    ] + COMMON_TAIL + AUDIT,
    "report-template-fields": [
        ("label", D), ("name", D), ("type", D), ("required", D),
        ("adminOnly", D), ("displayOrder", D), ("listItems", D),
        ("isDispatcherField", D), ("fieldTag", D),
        ("reportTemplate", R("report-templates")), ("confidential", D),
        ("id", D),
    ] + COMMON_TAIL + AUDIT,
    "report-flags": [
        ("name", D), ("details", D), ("showInDefaultGroup", D),
        ("severityLevel", D), ("customId", D), ("isGlobal", D),
        ("region", R("regions")), ("id", D),
    ] + COMMON_TAIL + AUDIT,
    "clients": [
        ("name", O), ("company", D), ("customId", D),
        ("parentClient", R("clients")), ("primaryPhone", D), ("type", D),
        ("region", R("regions")), ("status", D),
        ("positions", L("positions", _position_list_for_account)),
        ("address", R("addresses")), ("email", D), ("timeZone", O),
        ("tags", O), ("closedDate", D), ("id", D),
    ] + COMMON_TAIL + AUDIT,
    "accounts": [
        ("name", D), ("customId", D), ("type", D), ("subType", D),
        ("address", R("addresses")), ("region", R("regions")),
        ("timeZone", O), ("status", O),
        ("positions", L("positions", _position_list_for_account)),
        ("closedDate", D), ("id", D),
    ] + COMMON_TAIL + AUDIT,
    "positions": [
        ("name", D), ("description", D), ("customId", D), ("status", D),
        ("account", R("accounts")), ("contract", R("contracts")),
        ("nonBillable", D), ("beginDate", D), ("id", D),
    ] + COMMON_TAIL + AUDIT,
    "contracts": [
        ("customId", D), ("account", R("accounts")),
        ("billingFrequency", D), ("billingFrequencyType", D),
        ("billingStartDate", D), ("details", O), ("name", D),
        ("paymentTerms", D), ("serviceStartDate", D), ("status", D),
        ("type", D),
        ("positions", L("positions", _children("positions", "contract"))),
        ("id", D),
    ] + COMMON_TAIL + AUDIT,
    "bill-items": [
        ("name", D), ("customId", D), ("status", D), ("isGlobal", D),
        ("region", R("regions")), ("id", D),
    ] + COMMON_TAIL,
    "billing-adhoc-items": [
        ("status", D), ("price", D), ("quantity", D), ("serviceDate", D),
        ("description", D), ("account", R("clients")),
        ("contract", R("contracts")), ("billItem", R("bill-items")),
        ("taxClass", R("tax-classes")), ("id", D),
    ] + COMMON_TAIL + AUDIT,
    "regions": [
        ("customId", D), ("name", D), ("company", D), ("timeZone", D),
        ("address", R("addresses")), ("parentRegion", R("regions")),
        ("id", D),
    ] + COMMON_TAIL,
    "addresses": [
        ("addressLine1", D), ("city", D), ("country", D), ("state", D),
        ("postalCode", D), ("latitude", D), ("longitude", D), ("id", D),
    ] + COMMON_TAIL,
    "files": [("url", D), ("tag", D), ("format", D), ("id", D)] + COMMON_TAIL,
    "events-subscriptions": [
        ("customId", D), ("name", D), ("events", D), ("entityResponse", D),
        ("contextFilters", D), ("userDefinedFilters", D), ("url", D),
        ("failureEmail", D), ("lastTriggeredOn", D), ("id", D),
    ] + COMMON_TAIL + AUDIT,
}

# resources served under /rest/v1 (tax-classes and employees are only
# ever referenced by id)
SERVED = set(SPECS)

DATETIME_FIELDS = {"reportDateTime", "submittedOn", "approvedOn",
                   "createdOn", "updatedOn"}
DATE_FIELDS = {"closedDate", "beginDate", "billingStartDate",
               "serviceStartDate", "serviceDate"}

SEVERITIES = ["SEVERE", "HIGH", "MODERATE", "LOW", "INFO"]

# (name, customId, severity, details)
FLAGS = [
    ("After hours dispatch", "ADH", "MODERATE",
     "Officer dispatched to the site outside contracted hours"),
    ("Alarm response", "ALR", "HIGH",
     "Response to an intrusion or panic alarm"),
    ("Trespassing", "TRS", "MODERATE", "Unauthorised person on the premises"),
    ("Vandalism", "VAN", "HIGH", "Damage to client property"),
    ("Theft", "THF", "HIGH", "Property reported stolen"),
    ("Medical emergency", "MED", "SEVERE", "Injury or illness requiring EMS"),
    ("Fire alarm", "FIR", "SEVERE", "Fire alarm activation or smoke"),
    ("Suspicious activity", "SUS", "LOW", "Activity worth noting, no action"),
    ("Maintenance issue", "MNT", "LOW", "Building defect reported to client"),
    ("Routine observation", "OBS", "INFO", "Nothing to report"),
]

# (name, tag, details, [(label, type, fieldTag, required)], flag codes, weight)
TEMPLATES = [
    ("Incident Report", "incident", "General incident report",
     [("Incident summary", "TEXTAREA", "summary", True),
      ("Persons involved", "TEXT", "persons", False),
      ("Police notified", "CHECKBOX", "police", False),
      ("Hours on site", "TEXT_NUMBER", "hours", False),
      ("Photo", "PICTURE", "photo", False)],
     ["ADH", "TRS", "VAN", "THF", "MED", "SUS"], 40),
    ("Alarm Response", "alarm", "Mobile response to a monitored alarm",
     [("Alarm zone", "TEXT", "zone", True),
      ("Arrival time", "TIME", "arrival", True),
      ("Hours on site", "TEXT_NUMBER", "hours", True),
      ("Findings", "TEXTAREA", "summary", True),
      ("Photo", "PICTURE", "photo", False)],
     ["ALR", "FIR", "ADH"], 30),
    ("Maintenance Issue", "maintenance", "Defects found on patrol",
     [("Description", "TEXTAREA", "summary", True),
      ("Location on site", "TEXT", "location", True),
      ("Photo", "PICTURE", "photo", False)],
     ["MNT"], 15),
    ("Daily Activity Report", "dar", "End of shift activity log",
     [("Activities", "TEXTAREA", "summary", True),
      ("Weather", "LIST", "weather", False)],
     ["OBS", None], 15),
]

WEATHER = ["Clear", "Rain", "Snow", "Fog", "Overcast"]

CLIENT_POOL = [
    ("Harbourfront Properties", "Toronto", "ON", "America/Toronto",
     ["Tower A", "Tower B", "Parking Garage", "Marina Office"]),
    ("Northgate Logistics", "Mississauga", "ON", "America/Toronto",
     ["Distribution Centre 1", "Distribution Centre 2", "Cross-Dock"]),
    ("Maple Ridge Health", "Vancouver", "BC", "America/Vancouver",
     ["Main Hospital", "Outpatient Clinic", "Research Wing"]),
    ("Lakeshore Retail Group", "Ottawa", "ON", "America/Toronto",
     ["Lakeshore Mall", "Westend Plaza", "Outlet Centre"]),
    ("Cedar Tech Campus", "Burnaby", "BC", "America/Vancouver",
     ["Building 1", "Building 2", "Data Hall"]),
    ("Granville Residences", "Vancouver", "BC", "America/Vancouver",
     ["North Tower", "South Tower"]),
]

SINGLE_SITE_POOL = [
    ("Riverside Municipal Library", "Ottawa", "ON", "America/Toronto"),
    ("Summit Industrial Park", "Calgary", "AB", "America/Edmonton"),
]

POSTS = [("Front Desk Officer", "Lobby and visitor management"),
         ("Mobile Patrol", "Interior and exterior patrol rounds"),
         ("Loading Dock", "Shipping and receiving control"),
         ("Concierge", "Residential concierge desk"),
         ("Control Room", "CCTV and access control monitoring")]

STREETS = ["Queens Quay W", "King St E", "Bay St", "Hastings St",
           "Granville St", "Bank St", "Dixie Rd", "Lougheed Hwy",
           "Macleod Trail", "Front St W"]

SUMMARIES = {
    "ADH": ["Called out after hours by the client; building walked, doors "
            "re-secured.", "Dispatched at client request outside contracted "
            "hours to meet a contractor."],
    "ALR": ["Alarm panel showed motion in the zone; perimeter checked, no "
            "signs of entry.", "Alarm reset after keyholder arrived; cause "
            "was an open window."],
    "TRS": ["Two individuals found in the stairwell and escorted off the "
            "property.", "Person sleeping in the vestibule asked to leave."],
    "VAN": ["Graffiti found on the east wall.", "Broken window at the rear "
            "entrance."],
    "THF": ["Bicycle reported stolen from the rack.", "Tenant reports a "
            "parcel missing from the mail room."],
    "MED": ["Visitor fainted in the lobby, EMS called.", "Worker cut hand "
            "on the dock; first aid given."],
    "FIR": ["Fire alarm on floor 3 caused by burnt toast; fire department "
            "attended.", "Smoke detector fault in the garage."],
    "SUS": ["Vehicle idling in the lot for 40 minutes, plate noted.",
            "Unknown person photographing the entrance."],
    "MNT": ["Light out in stairwell B.", "Water leak under the loading "
            "dock door."],
    "OBS": ["Patrols completed, nothing to report.", "Quiet shift, all "
            "doors secure."],
}

NAMES = ["J. Singh", "M. Tremblay", "A. Chen", "R. Okafor", "L. Martin",
         "S. Nguyen", "D. Roy", "K. Haddad"]


def iso(dt):
    """TrackTik date-time text (PHP DATE_ATOM) in UTC."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def parse_iso(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S+00:00") \
        .replace(tzinfo=UTC)


def local_offset_hours(tz):
    """Standard-time UTC offsets of the tenant's zones (data generation
    only: history is placed at plausible local hours)."""
    return {"America/Toronto": -5, "America/Vancouver": -8,
            "America/Edmonton": -7}.get(tz, 0)


class Tenant:
    """All tenant data plus a lock; the HTTP server and the delivery
    generator share one instance."""

    def __init__(self, seed=42, anchor=None, history=240, base_url=""):
        self.seed = seed
        self.lock = threading.RLock()
        self.base_url = base_url
        self.tables = {name: {} for name in SPECS}
        self.rng = random.Random(seed)
        now = datetime.datetime.now(UTC)
        self.anchor = anchor or now.replace(hour=0, minute=0, second=0,
                                            microsecond=0)
        self.next_ids = {}
        self.fields_by_report = {}
        self.bulk_rng = random.Random(seed * 13 + 7)
        self._build(history)

    # -- storage -------------------------------------------------------

    def table(self, res):
        return self.tables[res]

    def get(self, res, oid):
        return self.tables.get(res, {}).get(oid)

    def _new_id(self, res, start):
        nid = self.next_ids.get(res, start)
        self.next_ids[res] = nid + 1
        return nid

    def add(self, res, obj, start):
        obj["id"] = self._new_id(res, start)
        self.tables[res][obj["id"]] = obj
        if res == "report-fields":
            self.fields_by_report.setdefault(obj["report"], []).append(obj)
        return obj

    # -- generation ----------------------------------------------------

    def _build(self, history):
        rng = self.rng
        created = iso(self.anchor - datetime.timedelta(days=400))
        self.created = created
        audit = {"createdBy": 1000, "createdOn": created,
                 "updatedBy": 1000, "updatedOn": created}

        east = self.add("regions", {"customId": "REG-E", "name": "Canada East",
                                    "company": "Sentinel Guard Services",
                                    "timeZone": "America/Toronto"}, 1)
        west = self.add("regions", {"customId": "REG-W", "name": "Canada West",
                                    "company": "Sentinel Guard Services",
                                    "timeZone": "America/Vancouver"}, 1)
        region_for_tz = {"America/Toronto": east["id"],
                         "America/Vancouver": west["id"],
                         "America/Edmonton": west["id"]}
        # regions are accounts too (type REGION)
        for reg in (east, west):
            self.tables["accounts"][reg["id"]] = {
                "id": reg["id"], "name": reg["name"],
                "customId": reg["customId"], "type": "REGION",
                "timeZone": reg["timeZone"], "status": "ACTIVE"}
            self.tables["accounts"][reg["id"]].update(audit)

        for code, (name, tag, details, fields, flags, weight) in \
                enumerate(TEMPLATES):
            tpl = self.add("report-templates", {
                "name": name, "details": details, "tag": tag,
                "adminOnly": False}, 40)
            tpl.update(audit)
            tpl["_flags"] = flags
            tpl["_weight"] = weight
            for order, (label, ftype, tagname, required) in enumerate(fields):
                tf = self.add("report-template-fields", {
                    "label": label, "type": ftype, "required": required,
                    "adminOnly": False, "displayOrder": order + 1,
                    "isDispatcherField": False, "fieldTag": tagname,
                    "reportTemplate": tpl["id"], "confidential": False}, 60)
                tf["name"] = "f_%d" % tf["id"]
                if ftype == "LIST":
                    tf["listItems"] = {w.lower(): w for w in WEATHER}
                tf.update(audit)

        self.flag_by_code = {}
        for name, code, severity, details in FLAGS:
            flag = self.add("report-flags", {
                "name": name, "details": details, "showInDefaultGroup": True,
                "severityLevel": severity, "customId": code,
                "isGlobal": True, "region": east["id"]}, 20)
            flag.update(audit)
            self.flag_by_code[code] = flag["id"]

        for name, code in [("After hours dispatch", "ADH"),
                           ("Alarm response", "ALR"),
                           ("Guard hours", "GRD"),
                           ("Mobile patrol visit", "PAT"),
                           ("Materials and supplies", "MAT")]:
            self.add("bill-items", {"name": name, "customId": code,
                                    "status": "ACTIVE", "isGlobal": True,
                                    "region": east["id"]}, 700)

        pool = list(CLIENT_POOL)
        rng.shuffle(pool)
        multi = pool[:4]
        singles = list(SINGLE_SITE_POOL)
        rng.shuffle(singles)
        self.sites = []
        acct_id = 100

        def make_account(record, account_type, sub_type, tz, city, prov,
                         company, parent=None, status="ACTIVE"):
            nonlocal acct_id
            addr = self.add("addresses", {
                "addressLine1": "%d %s" % (rng.randint(10, 990),
                                           rng.choice(STREETS)),
                "city": city, "country": "CA", "state": prov,
                "postalCode": "%s%d%s %d%s%d" % (
                    rng.choice("KLMNVT"), rng.randint(1, 9),
                    rng.choice("ABCEGH"), rng.randint(1, 9),
                    rng.choice("JKLMNP"), rng.randint(1, 9)),
                "latitude": round(43 + rng.random() * 7, 6),
                "longitude": round(-123 + rng.random() * 48, 6)}, 900)
            acct_id += 1
            rid = region_for_tz[tz]
            client = {
                "id": acct_id, "name": record, "company": company,
                "customId": "CL-%04d" % acct_id, "type": account_type,
                "region": rid, "status": status,
                "primaryPhone": "+1-%03d-555-%04d" % (
                    rng.randint(204, 905), rng.randint(0, 9999)),
                "email": "security@%s.example" % company.split()[0].lower(),
                "address": addr["id"], "timeZone": tz,
                "tags": ["guarding"] + (["multi-site"] if parent or
                                        account_type != "CLIENT" else [])}
            if parent:
                client["parentClient"] = parent
            if status != "ACTIVE":
                client["closedDate"] = (self.anchor - datetime.timedelta(
                    days=20)).strftime("%Y-%m-%d")
            client.update(audit)
            self.tables["clients"][acct_id] = client
            account = {"id": acct_id, "name": record,
                       "customId": client["customId"], "type": "CLIENT",
                       "subType": sub_type, "address": addr["id"],
                       "region": rid, "timeZone": tz, "status": status}
            if "closedDate" in client:
                account["closedDate"] = client["closedDate"]
            account.update(audit)
            self.tables["accounts"][acct_id] = account
            return client

        contract_no = 0

        def make_contract(client):
            nonlocal contract_no
            contract_no += 1
            start = (self.anchor - datetime.timedelta(days=365)) \
                .strftime("%Y-%m-01")
            c = self.add("contracts", {
                "customId": "CT-%03d" % contract_no,
                "account": client["id"],
                "name": "%s security services" % client["company"],
                "details": "Guarding, mobile response and call-outs",
                "billingFrequency": "MONTHLY",
                "billingFrequencyType": "ON_END",
                "billingStartDate": start, "serviceStartDate": start,
                "paymentTerms": "DAYS_30", "status": "ACTIVE",
                "type": "CONTRACT"}, 300)
            c.update(audit)
            return c

        def make_posts(site, contract, count, non_billable=False):
            for name, desc in rng.sample(POSTS, count):
                p = {"name": name, "description": desc,
                     "status": "ACTIVE", "account": site["id"],
                     "nonBillable": non_billable,
                     "beginDate": contract["serviceStartDate"] if contract
                     else self.created[:10]}
                if contract and not non_billable:
                    p["contract"] = contract["id"]
                p = self.add("positions", p, 500)
                p["customId"] = "POS-%04d" % p["id"]
                p.update(audit)

        closed_done = False
        for company, city, prov, tz, site_names in multi:
            parent = make_account(company, "MULTI_LOCATION_CLIENT", "MULTI",
                                  tz, city, prov, company)
            contract = make_contract(parent)
            count = rng.randint(2, len(site_names))
            for sname in site_names[:count]:
                closed = not closed_done and sname == site_names[count - 1] \
                    and count >= 3
                site = make_account("%s - %s" % (company, sname),
                                    "SERVICE_LOCATION", "SITE", tz, city,
                                    prov, company, parent=parent["id"],
                                    status="CLOSED" if closed else "ACTIVE")
                closed_done = closed_done or closed
                make_posts(site, contract, rng.randint(1, 3))
                self.sites.append(site["id"])
        for company, city, prov, tz in singles[:1]:
            client = make_account(company, "CLIENT", "CLIENT", tz, city, prov,
                                  company)
            contract = make_contract(client)
            make_posts(client, contract, 2)
            self.sites.append(client["id"])
        # one post without a contract: TrackTik calls it non billable
        last_site = self.get("clients", self.sites[0])
        p = self.add("positions", {
            "name": "Courtesy Patrol", "description": "Unbilled goodwill "
            "patrol", "status": "ACTIVE", "account": last_site["id"],
            "nonBillable": True, "beginDate": self.created[:10]}, 500)
        p["customId"] = "POS-%04d" % p["id"]
        p.update(audit)

        self.reports_rng = random.Random(self.seed * 7919 + 1)
        start = self.anchor - datetime.timedelta(days=45)
        span = int((self.anchor - start).total_seconds())
        times = sorted(start + datetime.timedelta(
            seconds=self.reports_rng.randint(0, span)) for _ in range(history))
        for when in times:
            self.new_report(when, self.reports_rng, history=True)

    # -- reports -------------------------------------------------------

    def active_sites(self):
        return [s for s in self.sites
                if self.get("clients", s)["status"] == "ACTIVE"]

    def new_report(self, when, rng, history=False, now=None, exact=False):
        """Create a report as a guard would submit it; returns it.  exact:
        reported at when, even an after-hours call-out."""
        with self.lock:
            templates = list(self.tables["report-templates"].values())
            tpl = rng.choices(templates,
                              weights=[t["_weight"] for t in templates])[0]
            code = rng.choice(tpl["_flags"])
            sites = self.sites if history else self.active_sites()
            site = self.get("clients", rng.choice(sites))
            tz = site["timeZone"]
            if code == "ADH":
                # after-hours call-outs happen at night, local time
                local_hour = rng.choice([19, 20, 21, 22, 23, 0, 1, 2, 3, 4, 5])
                if history and not exact:
                    local = when + datetime.timedelta(
                        hours=local_offset_hours(tz))
                    local = local.replace(hour=local_hour)
                    when = local - datetime.timedelta(
                        hours=local_offset_hours(tz))
                    if when > self.anchor:
                        when -= datetime.timedelta(days=1)
            posts = [p for p in self.tables["positions"].values()
                     if p["account"] == site["id"]]
            post = rng.choices(posts, weights=[1 if p["nonBillable"] else 8
                                               for p in posts])[0]
            submitted = when + datetime.timedelta(minutes=rng.randint(2, 40))
            if now is not None and submitted > now:
                # a live report is submitted now, written a little earlier
                submitted = now
            guard = 2000 + rng.randint(1, 60)
            rep = {"reportTemplate": tpl["id"], "reportDateTime": iso(when),
                   "submittedOn": iso(submitted), "account": site["id"],
                   "position": post["id"], "timeZone": tz,
                   "createdBy": guard, "createdOn": iso(submitted),
                   "updatedBy": guard, "updatedOn": iso(submitted)}
            if code:
                rep["reportFlag"] = self.flag_by_code[code]
            if history:
                rep["status"] = rng.choices(
                    ["APPROVED", "NEW", "VERIFICATION", "PENDING"],
                    weights=[75, 12, 8, 5])[0]
            else:
                rep["status"] = rng.choice(["APPROVED", "NEW", "NEW"])
            if rep["status"] == "APPROVED":
                approved = submitted + datetime.timedelta(
                    minutes=rng.randint(5, 600))
                if now is not None or not history:
                    approved = submitted
                if approved > self.anchor and history:
                    approved = submitted
                rep["approvedOn"] = iso(approved)
                rep["approvedBy"] = 1001 + rng.randint(0, 4)
                rep["updatedOn"] = iso(approved)
                rep["updatedBy"] = rep["approvedBy"]
            rep = self.add("reports", rep, 10001)
            rep["_code"] = code
            for tf in sorted(self._template_fields(tpl["id"]),
                             key=lambda f: f["displayOrder"]):
                value, label = self._field_value(tf, code, rng, when)
                rf = self.add("report-fields", {
                    "fieldTag": tf["fieldTag"], "report": rep["id"],
                    "templateField": tf["id"], "value": value,
                    "archived": False}, 50001)
                if label is not None:
                    rf["valueLabel"] = label
            return rep

    def bulk_reports(self, count, first_day, last_day, seed=1, at=None):
        """count reports spread evenly over [first_day, last_day] (UTC
        dates, inclusive), as history: the admin API's bulk set-up.  at
        (YYYY-MM-DDTHH:MM:SS, UTC) instead: all of them reported in that
        very second (ties, as a tenant's bulk import makes them)."""
        try:
            count = int(count)
            if at is not None:
                lo = hi = datetime.datetime.strptime(at, "%Y-%m-%dT%H:%M:%S")
            else:
                lo = datetime.datetime.strptime(first_day, "%Y-%m-%d")
                hi = datetime.datetime.strptime(last_day, "%Y-%m-%d")
        except (TypeError, ValueError):
            raise ApiError(400, "reports: count (integer), and from and to "
                           "(YYYY-MM-DD) or at (YYYY-MM-DDTHH:MM:SS) are "
                           "required")
        if not 1 <= count <= 200000 or hi < lo:
            raise ApiError(400, "reports: count is 1..200000 and to may "
                           "not be before from")
        lo, hi = lo.replace(tzinfo=UTC), hi.replace(tzinfo=UTC)
        span = 0 if at is not None else int((hi - lo).total_seconds()) + 86399
        rng = random.Random(seed)
        times = sorted(lo + datetime.timedelta(seconds=rng.randint(0, span))
                       for _ in range(count))
        with self.lock:
            saved = self.anchor
            # history is clamped to the anchor: let it cover the range
            self.anchor = max(saved, hi + datetime.timedelta(days=1))
            try:
                made = [self.new_report(when, rng, history=True,
                                        exact=at is not None)["id"]
                        for when in times]
            finally:
                self.anchor = saved
        return {"created": len(made), "first": made[0], "last": made[-1]}

    def _template_fields(self, tpl_id):
        return [f for f in self.tables["report-template-fields"].values()
                if f["reportTemplate"] == tpl_id]

    def _field_value(self, tf, code, rng, when):
        ftype, tag = tf["type"], tf["fieldTag"]
        if ftype == "TEXTAREA":
            return rng.choice(SUMMARIES.get(code or "OBS")), None
        if ftype == "TEXT_NUMBER":
            return "%.2f" % (rng.choice([0.5, 1, 1.5, 2, 2.5, 3, 4])), None
        if ftype == "CHECKBOX":
            v = rng.random() < 0.3
            return ("1" if v else "0"), ("Yes" if v else "No")
        if ftype == "PICTURE":
            if rng.random() < 0.35:
                f = self.add("files", {"tag": "report-photo",
                                       "format": "image/png"}, 80001)
                f["url"] = "%s/uploads/report-photos/%d.png" % (
                    self.base_url, f["id"])
                return f["url"], "photo-%d.png" % f["id"]
            return "", None
        if ftype == "TIME":
            t = when + datetime.timedelta(minutes=rng.randint(5, 30))
            return t.strftime("%H:%M"), None
        if ftype == "LIST":
            w = rng.choice(WEATHER)
            return w.lower(), w
        if tag == "persons":
            return ", ".join(rng.sample(NAMES, rng.randint(0, 2))), None
        if tag == "zone":
            return "Zone %d" % rng.randint(1, 12), None
        if tag == "location":
            return rng.choice(["Stairwell B", "Loading dock", "Lobby",
                               "Parking level P2", "Roof access"]), None
        return "", None

    def update_report(self, rep, rng, now):
        """Change an earlier report the way supervisors do; returns a
        short description of the change."""
        with self.lock:
            fields = list(self.fields_by_report.get(rep["id"], ()))
            choices = ["edit"]
            if rep["status"] != "APPROVED":
                choices += ["approve", "approve"]
            tpl = self.get("report-templates", rep["reportTemplate"])
            other = [c for c in tpl["_flags"]
                     if c and c != rep.get("_code")]
            if other:
                choices.append("reflag")
            kind = rng.choice(choices)
            if kind == "approve":
                rep["status"] = "APPROVED"
                rep["approvedOn"] = iso(now)
                rep["approvedBy"] = 1001 + rng.randint(0, 4)
                rep["updatedBy"] = rep["approvedBy"]
            elif kind == "reflag":
                code = rng.choice(other)
                rep["_code"] = code
                rep["reportFlag"] = self.flag_by_code[code]
                rep["updatedBy"] = 1001 + rng.randint(0, 4)
            else:
                texts = [f for f in fields if f["fieldTag"] in
                         ("summary", "hours")]
                f = rng.choice(texts)
                if f["fieldTag"] == "hours":
                    f["value"] = "%.2f" % (float(f["value"] or 0) + 0.5)
                else:
                    f["value"] = f["value"] + " Supervisor note: reviewed."
                rep["updatedBy"] = 1001 + rng.randint(0, 4)
            prev = parse_iso(rep["updatedOn"])
            stamp = max(now, prev + datetime.timedelta(seconds=1))
            rep["updatedOn"] = iso(stamp)
            if kind == "approve":
                rep["approvedOn"] = rep["updatedOn"]
            return kind

    # -- rendering -----------------------------------------------------

    def check_includes(self, res, includes):
        """Raise ValueError naming the first include that is not a field
        or relation of the resource."""
        for path in includes:
            cur = res
            parts = path.split(".")
            for i, part in enumerate(parts):
                spec = dict(SPECS.get(cur, []))
                kind = spec.get(part)
                if kind is None:
                    raise ValueError("Invalid include: %s" % path)
                if isinstance(kind, (R, L)):
                    cur = kind.target
                    if cur not in SPECS and i + 1 < len(parts):
                        raise ValueError("Invalid include: %s" % path)
                elif i + 1 < len(parts):
                    raise ValueError("Invalid include: %s" % path)

    def render(self, res, obj, includes=()):
        top = {}
        for path in includes:
            head, _, rest = path.partition(".")
            top.setdefault(head, [])
            if rest:
                top[head].append(rest)
        out = {}
        for field, kind in SPECS[res]:
            if field == "uri":
                if "uri" in top:
                    out["uri"] = "%s/rest/v1/%s/%d" % (self.base_url, res,
                                                       obj["id"])
                continue
            if field == "resourceType":
                if field in top:
                    out[field] = res
                continue
            if isinstance(kind, L):
                if field in top:
                    out[field] = [self.render(kind.target, x, top[field])
                                  for x in sorted(kind.lister(self, obj),
                                                  key=lambda o: o["id"])]
                continue
            value = obj.get(field)
            if value is None:
                continue
            if isinstance(kind, R):
                target = self.get(kind.target, value)
                if field in top and target is not None:
                    out[field] = self.render(kind.target, target, top[field])
                else:
                    out[field] = value
            elif kind == D or field in top:
                out[field] = value
        return out
