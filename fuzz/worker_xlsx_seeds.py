#!/usr/bin/env python3
"""Writes the hand-made seeds of fuzz/corpus/worker_xlsx/ (the others are
sim/tt_export.py's exports at --rows 8).

    python3 fuzz/worker_xlsx_seeds.py fuzz/corpus/worker_xlsx

Their members are stored, not deflated, so the fuzzer's mutations reach
the XML the reader parses (in a deflated member almost every change is a
broken stream); each seed reaches a part of import_xlsx.c the exports do
not: shared strings with runs and phonetic text, a first sheet found
through the workbook (relative and absolute targets), no workbook at all,
a formula, gaps between cells, rows without numbers, a missing shared
string, a cell out of order.
"""

import os
import sys
import zipfile

NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
REL_NS = ('xmlns:r="http://schemas.openxmlformats.org/officeDocument/'
          '2006/relationships"')
HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'
HEADER = ["ID", "Date", "Client", "Site", "Severity", "Category",
          "Time Zone", "Details"]


def workbook(rid):
    return (HEAD + '<workbook %s %s><sheets><sheet name="Reports" '
            'sheetId="1" r:id="%s"/></sheets></workbook>' % (NS, REL_NS, rid))


def rels(pairs):
    return (HEAD + '<Relationships xmlns="http://schemas.openxmlformats.org/'
            'package/2006/relationships">' + "".join(
                '<Relationship Id="%s" Target="%s"/>' % p for p in pairs)
            + '</Relationships>')


def col(i):
    return chr(65 + i)


def shared_sheet():
    """Every text through sharedStrings.xml, as Excel saves."""
    strings = HEADER + ["Acme", "Acme - Lobby", "LOW", "Theft",
                        "Europe/Paris"]
    si = "".join('<si><t>%s</t></si>' % s for s in strings[:-1])
    # the last one in two runs, with phonetic text the reader skips
    si += ('<si><r><t>Europe/</t></r><r><rPr/><t>Paris</t></r>'
           '<rPh sb="0" eb="1"><t>ignored</t></rPh></si>')
    sst = HEAD + '<sst %s count="%d">%s</sst>' % (NS, len(strings), si)

    def s(ref, k):
        return '<c r="%s" t="s"><v>%d</v></c>' % (ref, k)

    row1 = "".join(s(col(i) + "1", i) for i in range(len(HEADER)))
    row2 = ('<c r="A2"><v>4711</v></c>'
            '<c r="B2"><v>2026-03-29 02:30:00</v></c>'
            + s("C2", 8) + s("D2", 9) + s("E2", 10) + s("F2", 11)
            + s("G2", 12)
            + '<c r="H2" t="str"><f>HYPERLINK("http://x","y")</f>'
              '<v>y</v></c>')
    # no r attributes: numbered and placed in order
    row3 = ('<c><v>4712</v></c><c t="inlineStr"><is><t>2026-01-02T03:04:05Z'
            '</t></is></c><c t="inlineStr"><is><t>C</t></is></c>'
            '<c t="inlineStr"><is><t>S</t></is></c>')
    # a gap: the cells between are empty fields
    row4 = '<c r="A4"><v>1</v></c><c r="F4" t="s"><v>11</v></c>'
    sheet = (HEAD + '<worksheet %s><sheetData><row r="1">%s</row>'
             '<row r="2">%s</row><row>%s</row><row r="4">%s</row>'
             '</sheetData></worksheet>' % (NS, row1, row2, row3, row4))
    return sst, sheet


def write(path, members):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for name, text in members:
            z.writestr(name, text)


def main(out):
    sst, sheet = shared_sheet()
    write(os.path.join(out, "shared-strings.xlsx"), [
        ("xl/workbook.xml", workbook("rId1")),
        ("xl/_rels/workbook.xml.rels",
         rels([("rId1", "worksheets/sheet1.xml")])),
        ("xl/sharedStrings.xml", sst),
        ("xl/worksheets/sheet1.xml", sheet)])

    # the first sheet is sheet2.xml, named by an absolute target
    write(os.path.join(out, "first-sheet-absolute.xlsx"), [
        ("xl/workbook.xml", workbook("rId7")),
        ("xl/_rels/workbook.xml.rels",
         rels([("rId1", "worksheets/sheet1.xml"),
               ("rId7", "/xl/worksheets/sheet2.xml")])),
        ("xl/sharedStrings.xml", sst),
        ("xl/worksheets/sheet1.xml", HEAD + '<worksheet %s/>' % NS),
        ("xl/worksheets/sheet2.xml", sheet)])

    # no workbook: sheet1.xml; a shared string that does not exist
    write(os.path.join(out, "no-workbook-bad-string.xlsx"), [
        ("xl/worksheets/sheet1.xml", HEAD + '<worksheet %s><sheetData>'
         '<row r="1"><c r="A1" t="inlineStr"><is><t>ID</t></is></c>'
         '<c r="B1" t="s"><v>3</v></c></row></sheetData></worksheet>'
         % NS)])

    # a cell out of order, an escape out of the package in the target
    write(os.path.join(out, "out-of-order.xlsx"), [
        ("xl/workbook.xml", workbook("rId1")),
        ("xl/_rels/workbook.xml.rels",
         rels([("rId1", "../../etc/sheet.xml")])),
        ("xl/worksheets/sheet1.xml", HEAD + '<worksheet %s><sheetData>'
         '<row r="1"><c r="B1"><v>1</v></c><c r="A1"><v>2</v></c></row>'
         '</sheetData></worksheet>' % NS)])


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "fuzz/corpus/worker_xlsx")
