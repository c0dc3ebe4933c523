"""sim/tt_export.py: the Operation Reports export as CSV and XLSX.  Both
files hold the same rows (the XLSX read back with zipfile and
ElementTree), reports carry the tenant's names and the site's local time,
and each hostile variant is where the importer's tests expect it."""

import csv
import io
import os
import sys
import tempfile
import unittest
import zipfile
import xml.etree.ElementTree as ET

from simtest import SIM_DIR

sys.path.insert(0, SIM_DIR)
import tt_export  # noqa: E402

csv.field_size_limit(4 * 1024 * 1024)
NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


def export(name, *args):
    out = os.path.join(tempfile.mkdtemp(), name)
    rc = tt_export.main([out, "--history", "12"] + list(args))
    assert rc == 0
    return out


def csv_rows(path, sep=","):
    with open(path, "rb") as f:
        data = f.read()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    text = data.decode("utf-8", errors="surrogateescape")
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=sep))


def xlsx_rows(path):
    """the sheet's rows, each as wide as the header row"""
    with zipfile.ZipFile(path) as z:
        root = ET.fromstring(z.read("xl/worksheets/sheet1.xml"))
    rows = []
    for row in root.iter(NS + "row"):
        cells = {}
        for c in row.iter(NS + "c"):
            col = "".join(ch for ch in c.get("r") if ch.isalpha())
            f = c.find(NS + "f")
            v = c.find(NS + "v")
            t = c.find(NS + "is/" + NS + "t")
            cells[col] = ("=" + f.text if f is not None
                          else t.text if t is not None
                          else v.text)
        rows.append(cells)
    width = len(rows[0])
    return [[r.get(tt_export._col_name(i), "") for i in range(width)]
            for r in rows]


class ExportTests(unittest.TestCase):
    def test_csv_and_xlsx_hold_the_same_rows(self):
        c = csv_rows(export("a.csv"))
        x = xlsx_rows(export("a.xlsx"))
        self.assertEqual(c[0], tt_export.COLUMNS)
        self.assertEqual(len(c), 13)
        self.assertEqual(c, x)

    def test_rows_name_client_site_and_local_time(self):
        rows = csv_rows(export("b.csv"))
        head = rows[0]
        r = dict(zip(head, rows[1]))
        self.assertRegex(r["Date"], r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
        self.assertTrue(r["Site"].startswith(r["Client"]) or
                        r["Site"] == r["Client"])
        self.assertRegex(r["Updated"], r"Z$|\+00:00$")

    def test_hostile_csv(self):
        path = export("h.csv", "--variant", "hostile")
        with open(path, "rb") as f:
            data = f.read()
        self.assertTrue(data.startswith(b"\xef\xbb\xbfID;Date;"))
        self.assertIn(b"\xe9 \xff\xfe", data)              # not UTF-8
        rows = csv_rows(path, ";")
        details = [dict(zip(rows[0], r))["Details"] for r in rows[1:]]
        self.assertIn("Line one,\r\nline two \"quoted\"\r\nend", details)
        self.assertEqual(sorted(len(d) for d in details)[-2:],
                         [tt_export.FIELD_MAX - 10, tt_export.FIELD_MAX + 1])
        self.assertEqual(len(rows), 1 + 12 + 6)           # 6 duplicates
        self.assertEqual(rows[4:10], [rows[1], rows[1], rows[2], rows[2],
                                      rows[3], rows[3]])

    def test_missing_column_and_formula_in_xlsx(self):
        rows = xlsx_rows(export("m.xlsx", "--variant", "missing,formula"))
        self.assertNotIn("Severity", rows[0])
        self.assertIn('=HYPERLINK("http://evil.example","click")',
                      rows[8])


if __name__ == "__main__":
    unittest.main()
