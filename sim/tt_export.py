"""Exports of the simulated tenant's reports in the shape of TrackTik's
Operation Reports export (one row per report), as CSV or XLSX, and the
hostile variants the importer must survive.

    python3 sim/tt_export.py OUT.csv|OUT.xlsx [--variant NAME]
        [--rows N | --size-mb N] [--pad BYTES] [--seed N] [--history N]
        [--anchor YYYY-MM-DD]

The rows are the tenant's reports (--history of them, generated from
--seed as the simulator does); --rows N repeats them with new ids
(id + k * 10,000,000) to any length, written as they are produced, so a
large export costs no memory; --size-mb N writes rows until the file has
N MB (the benchmark's large files).  --pad BYTES adds a "Notes" column
of that much text to every row (a column no mapping knows: it lands in
the raw record's import.extra).  The XLSX is written with the standard
library (zipfile and XML text): one sheet, inline strings, numbers as
numbers, a formula cell as a real <f> element.

Variants (several may be joined with ','):
  plain          the export as TrackTik writes it
  bom            a UTF-8 byte order mark first (CSV)
  semicolon      ';' between fields, as European Excel writes (CSV)
  crlf           a Details text with CR/LF inside quotes
  duplicates     the first three rows written twice more
  missing        the Severity column left out (a required column)
  long           one Details of 1 MB + 1 byte (rejected), one of
                 1 MB - 10 bytes (kept)
  badutf8        a Details holding bytes that are not UTF-8 (CSV)
  formula        a Details "=HYPERLINK(...)" and a Guard "@SUM(A1)"
  hostile        all of the above that the format can hold
"""

import argparse
import datetime
import io
import os
import random
import sys
import zipfile
from xml.sax.saxutils import escape

try:
    import zoneinfo
except ImportError:                                  # Python < 3.9
    zoneinfo = None

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tt_tenant                                      # noqa: E402


COLUMNS = ["ID", "Date", "Client", "Client ID", "Site", "Site ID",
           "Severity", "Category", "Report Template", "Status",
           "Time Zone", "Updated", "Position", "Guard", "Hours", "Details",
           "Submitted On"]

VARIANTS = ("plain", "bom", "semicolon", "crlf", "duplicates", "missing",
            "long", "badutf8", "formula", "hostile")

FIELD_MAX = 1024 * 1024
ID_STRIDE = 10000000


def report_rows(tenant):
    """One dict per report, ids ascending, values as the export shows
    them (local date-time in the site's zone, names not ids)."""
    rows = []
    with tenant.lock:
        reports = sorted(tenant.table("reports").values(),
                         key=lambda r: r["id"])
        fields = {}
        for f in tenant.table("report-fields").values():
            fields.setdefault(f["report"], []).append(f)
        for rep in reports:
            rows.append(_row(tenant, rep, fields.get(rep["id"], [])))
    return rows


def _row(tenant, rep, fields):
    site = tenant.get("clients", rep["account"])
    client = tenant.get("clients", site.get("parentClient", site["id"]))
    tpl = tenant.get("report-templates", rep["reportTemplate"])
    flag = tenant.get("report-flags", rep.get("reportFlag"))
    post = tenant.get("positions", rep.get("position"))
    tags = {f["fieldTag"]: f.get("valueLabel") or f["value"]
            for f in fields}
    details = tags.get("summary") or tags.get("details") or ""
    return {
        "ID": rep["id"],
        "Date": _local(rep["reportDateTime"], rep["timeZone"]),
        "Client": client["name"],
        "Client ID": client["id"],
        "Site": site["name"],
        "Site ID": site["id"],
        "Severity": flag["severityLevel"] if flag else "",
        "Category": flag["name"] if flag else "",
        "Report Template": tpl["name"] if tpl else "",
        "Status": rep["status"],
        "Time Zone": rep["timeZone"],
        "Updated": rep["updatedOn"],
        "Position": post["name"] if post else "",
        "Guard": "Officer %d" % rep["createdBy"],
        "Hours": tags.get("hours") or "",
        "Details": details,
        "Submitted On": rep.get("submittedOn", ""),
    }


def _local(iso_utc, tz):
    """'YYYY-MM-DD HH:MM:SS' in zone tz, as the export's Date column."""
    t = tt_tenant.parse_iso(iso_utc)
    if zoneinfo is not None:
        t = t.astimezone(zoneinfo.ZoneInfo(tz))
    else:
        t = t + datetime.timedelta(hours=tt_tenant.local_offset_hours(tz))
    return t.strftime("%Y-%m-%d %H:%M:%S")


def _pad_text(size):
    """A block of words to cut row padding from: text that compresses as
    text does, not as one repeated byte."""
    rng = random.Random(7)
    words = [w for w in __doc__.split() if w.isalpha()]
    text = " ".join(rng.choice(words) for _ in range(size // 4))
    return text[:size]


def rows_for(base, count, variants, pad=0):
    """The export's rows: base repeated with new ids up to count (None:
    without end), then the variants' changes.  A generator: nothing is
    kept."""
    block = _pad_text(1024 * 1024 + pad) if pad else ""
    first = []
    i = 0
    while count is None or i < count:
        row = dict(base[i % len(base)])
        if pad:
            at = (i * 104729) % (len(block) - pad)
            row["Notes"] = block[at:at + pad]
        row["ID"] = row["ID"] + (i // len(base)) * ID_STRIDE
        if "crlf" in variants and i == 1:
            row["Details"] = "Line one,\r\nline two \"quoted\"\r\nend"
        if "long" in variants and i in (4, 5):
            size = FIELD_MAX + 1 if i == 4 else FIELD_MAX - 10
            row["Details"] = ("x" * size)
        if "badutf8" in variants and i == 6:
            row["Details"] = b"caf\xe9 \xff\xfe".decode("latin-1")
            row["_raw_bytes"] = True
        if "formula" in variants and i == 7:
            row["Details"] = '=HYPERLINK("http://evil.example","click")'
            row["Guard"] = "@SUM(A1)"
        i += 1
        yield row
        if i <= 3:
            first.append(row)
        if "duplicates" in variants and i == 3:
            for k in range(3):
                for j in range(2):
                    yield dict(first[k])


def columns_for(variants, pad=0):
    cols = list(COLUMNS) + (["Notes"] if pad else [])
    if "missing" in variants:
        return [c for c in cols if c != "Severity"]
    return cols


def _until(rows, path, size_mb):
    """rows until the file at path has size_mb MB (None: all of them)"""
    for n, row in enumerate(rows):
        if size_mb is not None and n % 100 == 0 \
                and os.path.getsize(path) >= size_mb * 1024 * 1024:
            return
        yield row


def _csv_cell(value, sep):
    text = str(value)
    if any(c in text for c in (sep, '"', "\r", "\n")):
        return '"' + text.replace('"', '""') + '"'
    return text


def write_csv(path, rows, variants, pad=0, size_mb=None):
    sep = ";" if "semicolon" in variants else ","
    cols = columns_for(variants, pad)
    with open(path, "wb") as out:
        rows = _until(rows, path, size_mb)
        if "bom" in variants:
            out.write(b"\xef\xbb\xbf")
        out.write((sep.join(cols) + "\r\n").encode())
        for row in rows:
            line = sep.join(_csv_cell(row[c], sep) for c in cols) + "\r\n"
            # the bad-UTF-8 row's text stands for raw bytes (latin-1)
            out.write(line.encode("latin-1" if row.get("_raw_bytes")
                                  else "utf-8"))


def _col_name(i):
    name = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        name = chr(65 + r) + name
    return name


# a CR as a character reference: XML turns a literal CR LF into LF
CR = {"\r": "&#13;"}


def _xlsx_cell(ref, value, formula=False):
    if formula:
        return '<c r="%s" t="str"><f>%s</f><v></v></c>' % (
            ref, escape(str(value)[1:], CR))
    if isinstance(value, int):
        return '<c r="%s"><v>%d</v></c>' % (ref, value)
    if value == "":
        return ""
    return '<c r="%s" t="inlineStr"><is><t xml:space="preserve">%s</t>' \
           '</is></c>' % (ref, escape(str(value), CR))


XLSX_PARTS = {
    "[Content_Types].xml":
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/'
        'content-types"><Default Extension="rels" ContentType="application/'
        'vnd.openxmlformats-package.relationships+xml"/><Default Extension='
        '"xml" ContentType="application/xml"/><Override PartName="/xl/'
        'workbook.xml" ContentType="application/vnd.openxmlformats-'
        'officedocument.spreadsheetml.sheet.main+xml"/><Override PartName='
        '"/xl/worksheets/sheet1.xml" ContentType="application/vnd.'
        'openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '</Types>',
    "_rels/.rels":
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/'
        '2006/relationships"><Relationship Id="rId1" Type="http://schemas.'
        'openxmlformats.org/officeDocument/2006/relationships/'
        'officeDocument" Target="xl/workbook.xml"/></Relationships>',
    "xl/workbook.xml":
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
        '2006/main" xmlns:r="http://schemas.openxmlformats.org/'
        'officeDocument/2006/relationships"><sheets><sheet name="Operation '
        'Reports" sheetId="1" r:id="rId1"/></sheets></workbook>',
    "xl/_rels/workbook.xml.rels":
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/'
        '2006/relationships"><Relationship Id="rId1" Type="http://schemas.'
        'openxmlformats.org/officeDocument/2006/relationships/worksheet" '
        'Target="worksheets/sheet1.xml"/></Relationships>',
}


def write_xlsx(path, rows, variants, pad=0, size_mb=None):
    cols = columns_for(variants, pad)
    rows = _until(rows, path, size_mb)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in XLSX_PARTS.items():
            z.writestr(name, text)
        with z.open("xl/worksheets/sheet1.xml", "w",
                    force_zip64=True) as raw:
            out = io.TextIOWrapper(raw, encoding="utf-8")
            out.write('<?xml version="1.0" encoding="UTF-8" '
                      'standalone="yes"?>\n<worksheet xmlns="http://schemas.'
                      'openxmlformats.org/spreadsheetml/2006/main">'
                      '<sheetData>')
            out.write('<row r="1">%s</row>' % "".join(
                _xlsx_cell(_col_name(i) + "1", c)
                for i, c in enumerate(cols)))
            for n, row in enumerate(rows, start=2):
                if row.get("_raw_bytes"):
                    continue            # XML cannot carry them
                out.write('<row r="%d">%s</row>' % (n, "".join(
                    _xlsx_cell("%s%d" % (_col_name(i), n), row[c],
                               formula=isinstance(row[c], str)
                               and row[c][:1] in ("=",)
                               and "formula" in variants)
                    for i, c in enumerate(cols))))
            out.write('</sheetData></worksheet>')
            out.flush()
            out.detach()


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("out")
    p.add_argument("--variant", default="plain")
    p.add_argument("--rows", type=int, default=None)
    p.add_argument("--size-mb", type=int, default=None)
    p.add_argument("--pad", type=int, default=0)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--history", type=int, default=240)
    p.add_argument("--anchor", default="2026-11-30")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    variants = set(args.variant.split(","))
    unknown = variants - set(VARIANTS)
    if unknown:
        sys.stderr.write("tt_export: unknown variant %s (known: %s)\n"
                         % (", ".join(sorted(unknown)), ", ".join(VARIANTS)))
        return 2
    if "hostile" in variants:
        variants |= {"crlf", "duplicates", "long", "formula"}
        if not args.out.endswith(".xlsx"):
            variants |= {"bom", "semicolon", "badutf8"}
    anchor = datetime.datetime.strptime(args.anchor, "%Y-%m-%d") \
        .replace(tzinfo=datetime.timezone.utc)
    tenant = tt_tenant.Tenant(seed=args.seed, anchor=anchor,
                              history=args.history)
    base = report_rows(tenant)
    count = args.rows
    if count is None and args.size_mb is None:
        count = len(base)
    rows = rows_for(base, count, variants, args.pad)
    if args.out.endswith(".xlsx"):
        write_xlsx(args.out, rows, variants, args.pad, args.size_mb)
    else:
        write_csv(args.out, rows, variants, args.pad, args.size_mb)
    return 0


if __name__ == "__main__":
    sys.exit(main())
