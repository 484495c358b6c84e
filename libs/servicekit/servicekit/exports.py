"""Staff exports (导出) of a list as CSV or XLSX, each one on the audit trail.

A service's export endpoint reads the same list its page endpoint reads (every page, up to `MAX_ROWS`), records who
exported which list with which filters and how many rows (an event of the service's own, built on
`contracts.exports.ListExport`) in the same transaction, and answers the file. The file is made here: CSV in UTF-8
with a byte-order mark (so Excel opens Chinese text as it is) and XLSX by XlsxWriter. A cell that a spreadsheet
would run as a formula (starting with =, +, -, @, a tab or a carriage return) is written as text: an exported name
or note must never execute on an officer's machine (CSV/formula injection, OWASP)."""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo

import xlsxwriter
from fastapi import Response

from servicekit import clock
from servicekit.auth import Principal
from servicekit.errors import UnprocessableInput
from servicekit.pagination import PageRequest, decode_cursor

Format = Literal["csv", "xlsx"]
MAX_ROWS = 50_000
PAGE = 1_000
BEIJING = ZoneInfo("Asia/Shanghai")
MEDIA_TYPES: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
# For an export endpoint's `responses=`: the two files it may answer.
RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            MEDIA_TYPES["xlsx"]: {"schema": {"type": "string", "format": "binary"}},
        },
        "description": "the list as a file (Content-Disposition: attachment)",
    }
}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Column:
    key: str
    title: str  # the header as staff read it (Chinese)


class TooManyRows(UnprocessableInput):
    type = "export-too-large"
    title_zh, title_en = "导出行数过多", "Too many rows to export"

    def __init__(self) -> None:
        super().__init__(
            f"一次最多导出{MAX_ROWS}行，请缩小筛选范围", f"At most {MAX_ROWS} rows per export: narrow the filters"
        )


async def every_row(list_name: str, fetch: Callable[[PageRequest], Awaitable[tuple[list, str | None]]]) -> list:
    """Every item of a cursor-paged list, in list order; refused beyond MAX_ROWS rather than cut short."""
    rows: list = []
    page = PageRequest(None, PAGE)
    while True:
        found, cursor = await fetch(page)
        rows += found
        if len(rows) > MAX_ROWS:
            raise TooManyRows()
        if cursor is None:
            return rows
        page = PageRequest(decode_cursor(list_name, cursor), PAGE)


def _cell(value: Any) -> str | int | float:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, datetime):
        return value.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (list, tuple, set)):
        value = "；".join(str(v) for v in value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def render(columns: Sequence[Column], rows: Sequence[dict[str, Any]], fmt: Format) -> bytes:
    table = [[_cell(row.get(c.key)) for c in columns] for row in rows]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow([c.title for c in columns])
        writer.writerows(table)
        return ("\ufeff" + out.getvalue()).encode()
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False})
    sheet = book.add_worksheet()
    bold = book.add_format({"bold": True})
    sheet.write_row(0, 0, [c.title for c in columns], bold)
    for number, values in enumerate(table, start=1):
        sheet.write_row(number, 0, values)
    sheet.freeze_panes(1, 0)
    for index, column in enumerate(columns):
        longest = max([len(column.title) * 2, *(len(str(r[index])) for r in table[:200])], default=8)
        sheet.set_column(index, index, min(max(longest + 2, 8), 48))
    book.close()
    return buffer.getvalue()


def file(columns: Sequence[Column], rows: Sequence[dict[str, Any]], fmt: Format, title: str) -> Response:
    """The rows as a downloadable file: what every export endpoint answers."""
    return attachment(render(columns, rows, fmt), fmt, title)


def attachment(content: bytes, fmt: Format, title: str) -> Response:
    """The file as a download named `title` and today's date (RFC 6266: an ASCII fallback, the UTF-8 name)."""
    stamp = clock.now().astimezone(BEIJING).strftime("%Y%m%d")
    name = f"{title}-{stamp}.{fmt}"
    disposition = f"attachment; filename=\"export-{stamp}.{fmt}\"; filename*=UTF-8''{quote(name)}"
    return Response(
        content,
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": disposition, "Cache-Control": "no-store"},
    )


def facts(who: Principal, list_name: str, fmt: Format, filters: dict[str, Any], rows: int) -> dict[str, Any]:
    """The fields of the service's `ListExport` event: who exported what (filters as given, unset ones left out)."""
    return {
        "list_name": list_name,
        "format": fmt,
        "filters": {k: str(v) for k, v in filters.items() if v is not None and v != ""},
        "rows": rows,
        "exported_by": who.id,
        "exporter_roles": sorted(who.roles),
        "exported_at": clock.now(),
    }
