"""Bulk import (CSV or JSON) for programmes like the 1,469 school kiosks: all or nothing — any bad row and
nothing is stored, the answer lists every problem by row (in Chinese: the file is an office's); devices are
matched by serial, so importing the same file again changes nothing (a changed row updates its device, with
history)."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from aed.db import devices as repo
from aed.db import organisations as organisation_repo
from aed.domain import devices
from servicekit.auth import Principal
from servicekit.errors import UnprocessableInput
from servicekit.field_messages import field_message

MAX_ROWS = 5000
CSV_COLUMNS = [
    "serial",
    "name",
    "lat",
    "lon",
    "coord_system",
    "address",
    "district",
    "indoor",
    "floor",
    "access_directions",
    "access",
    "opening_hours",
    "season_from",
    "season_until",
    "closures",
    "status",
    "manufacturer",
    "model",
    "install_date",
    "battery_expires_on",
    "adult_pads_expires_on",
    "child_pads_expires_on",
    "last_inspected_on",
    "organisation_id",
    "contact_phone",
    "kiosk_with_first_aid_kit",
]
CSV_EXAMPLE = (
    "serial,name,lat,lon,address,district,indoor,access,opening_hours,status\n"
    "SCH-0001,北京市第一中学 体育馆,39.9289,116.3883,西城区某路1号,110102,true,public,Mo-Fr 07:30-18:00,working\n"
)
_TRUE, _FALSE = {"true", "1", "yes", "y", "是"}, {"false", "0", "no", "n", "否"}


class ImportRejected(UnprocessableInput):
    type = "import-rejected"
    title_zh, title_en = "导入文件有误，未导入任何设备", "The file has errors; nothing was imported"


def rows_from_csv(content: str) -> list[tuple[int, dict[str, Any]]]:
    """(line number, fields) per data row: blank cells are absent, `closures` is `;`-separated dates."""
    reader = csv.DictReader(io.StringIO(content.lstrip("\ufeff")))
    unknown = set(reader.fieldnames or []) - set(CSV_COLUMNS)
    if not reader.fieldnames or unknown:
        raise ImportRejected(
            "表头不正确",
            f"Unknown or missing columns: {sorted(unknown) or 'no header'}",
            errors=[{"row": 1, "field": None, "message": f"表头须为以下列之一：{'、'.join(CSV_COLUMNS)}"}],
        )
    rows = []
    for line, raw in enumerate(reader, start=2):
        cells = {k: v.strip() for k, v in raw.items() if k and v is not None and v.strip() != ""}
        record: dict[str, Any] = {k: v for k, v in cells.items() if k not in ("lat", "lon", "coord_system", "closures")}
        if "lat" in cells or "lon" in cells:
            record["position"] = {
                "lat": cells.get("lat"),
                "lon": cells.get("lon"),
                "coord_system": cells.get("coord_system", "wgs84"),
            }
        if "closures" in cells:
            record["closures"] = [d.strip() for d in cells["closures"].split(";") if d.strip()]
        for flag in ("indoor", "kiosk_with_first_aid_kit"):
            if flag in record:
                value = record[flag].lower()
                record[flag] = True if value in _TRUE else False if value in _FALSE else record[flag]
        rows.append((line, record))
    return rows


def rows_from_json(content: str) -> list[tuple[int, dict[str, Any]]]:
    try:
        data = json.loads(content)
    except json.JSONDecodeError as exc:
        raise ImportRejected(
            "JSON 格式错误", f"Not JSON: {exc}", errors=[{"row": None, "field": None, "message": str(exc)}]
        ) from None
    items = data.get("devices") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ImportRejected(
            "JSON 须为设备数组",
            'Expected a list of devices (or {"devices": [...]})',
            errors=[{"row": None, "field": None, "message": "须为设备数组"}],
        )
    return [(n, item if isinstance(item, dict) else {"_": item}) for n, item in enumerate(items, start=1)]


async def _outside_scope(
    session: AsyncSession, who: Principal, parsed: list[tuple[int, devices.NewDevice]], existing: dict[str, dict]
) -> list[dict]:
    """Rows the importer may not keep, by row: a device of another organisation or district, as the file places
    it or, for a serial already registered, as the registry holds it (an import cannot take a device over)."""
    allowed: dict[tuple[str, uuid.UUID | None], bool] = {}

    async def may(district: str, organisation_id: uuid.UUID | None) -> bool:
        if (district, organisation_id) not in allowed:
            allowed[(district, organisation_id)] = await devices.may_manage(
                session, who, district=district, organisation_id=organisation_id
            )
        return allowed[(district, organisation_id)]

    errors = []
    for row, device in parsed:
        if not await may(device.district, device.organisation_id):
            errors.append({"row": row, "field": "organisation_id", "message": "只能导入本单位或本区的设备"})
        elif (held := existing.get(device.serial)) and not await may(held["district"], held["organisation_id"]):
            errors.append({"row": row, "field": "serial", "message": "该序列号的设备属于其他单位或其他区"})
    return errors


async def import_devices(
    session: AsyncSession, admin: Principal, rows: list[tuple[int, dict[str, Any]]], *, now: datetime
) -> dict:
    if not rows:
        raise ImportRejected("文件中没有设备", "The file holds no devices", errors=[])
    if len(rows) > MAX_ROWS:
        raise ImportRejected(f"一次最多导入{MAX_ROWS}台", f"At most {MAX_ROWS} devices per import", errors=[])
    errors: list[dict] = []
    parsed: list[tuple[int, devices.NewDevice]] = []
    seen: dict[str, int] = {}
    for row, record in rows:
        try:
            device = devices.NewDevice.model_validate(record)
        except ValidationError as exc:
            errors += [
                {
                    "row": row,
                    "field": ".".join(str(p) for p in e["loc"]) or None,
                    "message": field_message(e, english=False),
                }
                for e in exc.errors()
            ]
            continue
        if device.serial in seen:
            errors.append({"row": row, "field": "serial", "message": f"与第 {seen[device.serial]} 行序列号重复"})
        seen.setdefault(device.serial, row)
        parsed.append((row, device))
    organisations = {d.organisation_id for _, d in parsed if d.organisation_id}
    districts_of = await organisation_repo.districts_of(session, list(organisations))
    for row, d in parsed:
        if d.organisation_id and d.organisation_id not in districts_of:
            errors.append({"row": row, "field": "organisation_id", "message": "所属单位不存在"})
        elif d.organisation_id and districts_of[d.organisation_id] != d.district:
            errors.append({"row": row, "field": "district", "message": "与所属单位不在同一区"})
    existing = await repo.by_serials(session, [d.serial for _, d in parsed])
    errors += await _outside_scope(session, admin, parsed, existing)
    if errors:
        raise ImportRejected(
            f"共 {len(errors)} 处错误，未导入任何设备",
            f"{len(errors)} problems; nothing was imported",
            errors=sorted(errors, key=lambda e: (e["row"] or 0, e["field"] or "")),
        )
    new = [(row, d) for row, d in parsed if d.serial not in existing]
    known = [(row, d) for row, d in parsed if d.serial in existing]
    created = (
        await devices.register_many(session, admin, [d for _, d in new], now=now, action="imported") if new else []
    )
    changes = [(existing[d.serial], devices.columns_of(d)) for _, d in known]
    updated = await devices.apply_changes_many(session, admin.id, changes, now=now, action="updated by import")
    report = [
        {"row": row, "serial": d.serial, "aed_id": saved["id"], "outcome": "created"}
        for (row, d), saved in zip(new, created, strict=True)
    ]
    report += [
        {
            "row": row,
            "serial": d.serial,
            "aed_id": saved["id"],
            "outcome": "unchanged" if saved is current else "updated",
        }
        for (row, d), (current, _), saved in zip(known, changes, updated, strict=True)
    ]
    report.sort(key=lambda r: r["row"])
    outcome = {kind: sum(1 for r in report if r["outcome"] == kind) for kind in ("created", "updated", "unchanged")}
    return {**outcome, "rows": report}
