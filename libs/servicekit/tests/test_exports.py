"""Exported files open in a spreadsheet as text: Chinese intact, and nothing an exported value holds runs as a
formula (CSV/formula injection)."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import UTC, date, datetime

from servicekit import exports

COLUMNS = [exports.Column("name", "姓名"), exports.Column("note", "说明"), exports.Column("at", "时间")]
ROWS = [
    {"name": "张*", "note": '=HYPERLINK("http://evil.example","点我")', "at": datetime(2026, 12, 6, 16, 0, tzinfo=UTC)},
    {"name": "李*", "note": "+1 加班", "at": date(2026, 12, 7)},
    {"name": "王*", "note": None, "at": None},
]


def test_csv_has_a_bom_for_excel_and_defuses_formulas():
    content = exports.render(COLUMNS, ROWS, "csv")
    assert content.startswith("\ufeff".encode())
    table = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert table[0] == ["姓名", "说明", "时间"]
    assert table[1] == ["张*", '\'=HYPERLINK("http://evil.example","点我")', "2026-12-07 00:00:00"]  # Beijing time
    assert table[2][1] == "'+1 加班" and table[2][2] == "2026-12-07"
    assert table[3] == ["王*", "", ""]


def test_xlsx_is_a_workbook_with_text_cells_and_no_formula():
    content = exports.render(COLUMNS, ROWS, "xlsx")
    with zipfile.ZipFile(io.BytesIO(content)) as book:
        sheet = book.read("xl/worksheets/sheet1.xml").decode()
        strings = book.read("xl/sharedStrings.xml").decode()
    assert "<f>" not in sheet  # no cell is a formula
    assert "姓名" in strings and "'=HYPERLINK" in strings and "张*" in strings


def test_a_download_is_named_in_chinese_with_an_ascii_fallback():
    response = exports.attachment(b"x", "csv", "人员名单")
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="export-') and "filename*=UTF-8''%E4%BA%BA" in disposition
    assert response.headers["content-type"].startswith("text/csv")
