"""The device registry: a record at least as rich as the French DAE schema (position, access, floor and
directions, opening hours, status, maker, serial, consumables, inspections, owner), kept by the owner's
staff (their organisation's devices) and district staff (their district's), every change in the history."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError
from sqlalchemy.ext.asyncio import AsyncSession

from aed.db import devices as repo
from aed.db import organisations as organisation_repo
from aed.domain import hours as opening
from contracts.aed import AedChanged, AedInspected, AedRegistered
from contracts.districts import District
from contracts.topics import Topic
from servicekit.auth import Principal
from servicekit.errors import Conflict, Forbidden, NotFound
from servicekit.events import build_event, record_events
from servicekit.field_messages import custom_message
from servicekit.geo import Position
from servicekit.ids import new_id

custom_message("opening_hours_syntax", "开放时间格式不正确（OpenStreetMap 写法，如 Mo-Fr 07:30-18:00）：{reason}")
custom_message("season_order", "季节结束日期早于开始日期")

Status = Literal["working", "out_of_service", "temporarily_absent", "removed", "unknown"]
Access = Literal["public", "customers", "staff"]


class DeviceFields(BaseModel):
    """Everything but the serial, each optional (a change names only what changes)."""

    name: str | None = Field(default=None, min_length=2, max_length=100)
    position: Position | None = None
    address: str | None = Field(default=None, min_length=2, max_length=200)
    district: District | None = None
    indoor: bool | None = None
    floor: str | None = Field(default=None, max_length=20)
    access_directions: str | None = Field(default=None, max_length=500, description="how to find it: entrance, room")
    access: Access | None = Field(default=None, description="public, customers (of the venue) or staff only")
    opening_hours: str | None = Field(
        default=None, max_length=300, description="OpenStreetMap syntax: `24/7`, `Mo-Fr 07:30-18:00; PH off`"
    )
    season_from: date | None = None
    season_until: date | None = None
    closures: list[date] | None = Field(default=None, max_length=366, description="the device's own closure days")
    status: Status | None = None
    manufacturer: str | None = Field(default=None, max_length=100)
    model: str | None = Field(default=None, max_length=100)
    install_date: date | None = None
    battery_expires_on: date | None = None
    adult_pads_expires_on: date | None = None
    child_pads_expires_on: date | None = None
    last_inspected_on: date | None = None
    organisation_id: uuid.UUID | None = None
    contact_phone: str | None = Field(default=None, pattern=r"^[0-9+\-() ]{5,20}$")
    kiosk_with_first_aid_kit: bool | None = None

    @field_validator("opening_hours")
    @classmethod
    def _hours(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                opening.parse(value)
            except opening.OpeningHoursError as exc:
                raise PydanticCustomError(
                    "opening_hours_syntax", "opening_hours: {reason}", {"reason": str(exc)}
                ) from None
        return value

    @model_validator(mode="after")
    def _season(self) -> DeviceFields:
        if self.season_from and self.season_until and self.season_until < self.season_from:
            raise PydanticCustomError("season_order", "season_until is before season_from")
        return self


class NewDevice(DeviceFields):
    serial: str = Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9\-_./]*$")
    name: str = Field(min_length=2, max_length=100)
    position: Position
    address: str = Field(min_length=2, max_length=200)
    district: District
    indoor: bool
    access: Access
    opening_hours: str = Field(default="24/7", max_length=300)
    status: Status = "working"
    closures: list[date] = Field(default=[], max_length=366)
    kiosk_with_first_aid_kit: bool = False


def columns_of(fields: DeviceFields) -> dict[str, Any]:
    """Row values for the fields given (position converted to WGS-84, hours derived)."""
    values = fields.model_dump(exclude_unset=True, exclude={"position"})
    if isinstance(fields, NewDevice):
        values = {**fields.model_dump(exclude={"position"}), **values}
    if fields.position is not None:
        point = fields.position.wgs84()
        values["lat"], values["lon"] = round(point.lat, 7), round(point.lon, 7)
    if values.get("opening_hours") is not None:
        parsed = opening.parse(values["opening_hours"])
        values["always_open"], values["closed_on_holidays"] = parsed.always_open, parsed.closed_on_holidays
    if "closures" in values and values["closures"] is None:
        values["closures"] = []
    return values


async def _member(session: AsyncSession, staff_id: str, organisation_id: uuid.UUID | None) -> bool:
    if organisation_id is None:
        return False
    return await organisation_repo.is_staff(session, staff_id, organisation_id)


async def may_manage(
    session: AsyncSession, who: Principal, *, district: str, organisation_id: uuid.UUID | None
) -> bool:
    """City admins any device; district officers their district's; owner staff their organisation's."""
    if who.kind != "staff" or who.acting_for:
        return False
    if who.has_role("city_admin"):
        return True
    if who.has_role("district_officer") and who.district == district:
        return True
    return who.has_role("aed_owner") and await _member(session, who.id, organisation_id)


async def register(
    session: AsyncSession, who: Principal, new: NewDevice, *, now: datetime, action: str = "registered"
) -> dict:
    return (await register_many(session, who, [new], now=now, action=action))[0]


async def register_many(
    session: AsyncSession, who: Principal, news: list[NewDevice], *, now: datetime, action: str = "registered"
) -> list[dict]:
    """Devices `who` may keep, each in its organisation's district, with serials not registered yet; stored
    with their hours, history and events in a fixed number of statements however many there are (a bulk
    import of the documented maximum answers well inside the gateway's timeout). In the order given."""
    for district, organisation_id in {(n.district, n.organisation_id) for n in news}:
        if not await may_manage(session, who, district=district, organisation_id=organisation_id):
            raise Forbidden(
                "只能登记本单位或本区的设备", "Owner staff register their organisation's devices; districts theirs"
            )
    owners = await organisation_repo.districts_of(session, list({n.organisation_id for n in news if n.organisation_id}))
    for new in news:
        if new.organisation_id is not None and new.organisation_id not in owners:
            raise NotFound("所属单位不存在", "No such organisation")
        if new.organisation_id is not None and owners[new.organisation_id] != new.district:
            raise Forbidden("设备所在区须与所属单位一致", "A device is in its organisation's district")
    if taken := await repo.by_serials(session, [n.serial for n in news]):
        raise Conflict("该序列号的设备已登记", "A device with that serial is registered already", serial=min(taken))
    columns = [columns_of(n) for n in news]
    rows = [{**c, "id": new_id(), "created_at": now, "updated_at": now, "updated_by": who.id} for c in columns]
    ids = [r["id"] for r in rows]
    await repo.insert_many(session, rows)
    await repo.set_hours_many(session, {r["id"]: opening.parse(r["opening_hours"]) for r in rows})
    await repo.add_history_many(
        session, [(i, _plain(c)) for i, c in zip(ids, columns, strict=True)], at=now, by=who.id, action=action
    )
    await _publish(
        session,
        [
            (
                AedRegistered(
                    aed_id=i,
                    serial=n.serial,
                    district=n.district,
                    organisation_id=n.organisation_id,
                    registered_by=who.id,
                    registered_at=now,
                ),
                i,
            )
            for i, n in zip(ids, news, strict=True)
        ],
        who.id,
    )
    stored = await repo.by_ids(session, ids)
    return [stored[i] for i in ids]


async def change(
    session: AsyncSession,
    who: Principal,
    aed_id: uuid.UUID,
    fields: DeviceFields,
    *,
    now: datetime,
    action: str = "changed",
) -> dict:
    current = await repo.get(session, aed_id, lock=True)
    if current is None:
        raise NotFound("设备不存在", "No such device")
    if not await may_manage(session, who, district=current["district"], organisation_id=current["organisation_id"]):
        raise Forbidden("只能维护本单位或本区的设备", "Only the owner's staff or the district's")
    wanted = columns_of(fields)
    target_org = wanted.get("organisation_id", current["organisation_id"])
    target_district = wanted.get("district", current["district"])
    if ("organisation_id" in wanted or "district" in wanted) and not await may_manage(
        session, who, district=target_district, organisation_id=target_org
    ):
        raise Forbidden("不能把设备转给无权管理的单位或区", "You cannot move a device out of your own reach")
    return await apply_changes(session, who.id, current, wanted, now=now, action=action)


async def apply_changes(
    session: AsyncSession, by: str, current: dict, wanted: dict[str, Any], *, now: datetime, action: str
) -> dict:
    """Write what differs (nothing if nothing does), with its history and event."""
    return (await apply_changes_many(session, by, [(current, wanted)], now=now, action=action))[0]


async def apply_changes_many(
    session: AsyncSession, by: str, changes: list[tuple[dict, dict[str, Any]]], *, now: datetime, action: str
) -> list[dict]:
    """For each (device as stored, values wanted): write what differs, with its history and event, in a fixed
    number of statements. Returns each device as it now stands — the very `current` where nothing differed."""
    diffs = [(current, {k: v for k, v in wanted.items() if current.get(k) != v}) for current, wanted in changes]
    changed = [(current, diff) for current, diff in diffs if diff]
    if not changed:
        return [current for current, _ in diffs]
    await repo.update_many(session, [(c["id"], {**diff, "updated_at": now, "updated_by": by}) for c, diff in changed])
    await repo.set_hours_many(
        session, {c["id"]: opening.parse(diff["opening_hours"]) for c, diff in changed if "opening_hours" in diff}
    )
    await repo.add_history_many(
        session,
        [(c["id"], {k: [_plain_value(c.get(k)), _plain_value(v)] for k, v in diff.items()}) for c, diff in changed],
        at=now,
        by=by,
        action=action,
    )
    events = []
    for current, diff in changed:
        after = {**current, **diff}
        events.append(
            (
                AedChanged(
                    aed_id=current["id"],
                    district=after["district"],
                    fields=sorted(diff),
                    status=after["status"],
                    usable_now_possible=after["status"] == "working"
                    and after["access"] == "public"
                    and not after["restock_required"],
                    changed_by=by,
                    changed_at=now,
                ),
                current["id"],
            )
        )
    await _publish(session, events, by)
    stored = await repo.by_ids(session, [c["id"] for c, _ in changed])
    return [stored[current["id"]] if diff else current for current, diff in diffs]


async def inspect(
    session: AsyncSession,
    who: Principal,
    aed_id: uuid.UUID,
    *,
    inspected_on: date,
    result: Literal["ok", "needs_repair"],
    notes: str | None,
    replaced: dict[str, date],
    now: datetime,
) -> dict:
    """An inspection is recorded; an `ok` one clears a restock flag; replaced consumables get their new dates."""
    current = await repo.get(session, aed_id, lock=True)
    if current is None:
        raise NotFound("设备不存在", "No such device")
    if not await may_manage(session, who, district=current["district"], organisation_id=current["organisation_id"]):
        raise Forbidden("只能检查本单位或本区的设备", "Only the owner's staff or the district's")
    await repo.add_inspection(session, aed_id, inspected_on=inspected_on, result=result, notes=notes, by=who.id, at=now)
    wanted: dict[str, Any] = {
        "last_inspected_on": max(inspected_on, current["last_inspected_on"] or inspected_on),
        **replaced,
    }
    cleared = result == "ok" and current["restock_required"]
    if cleared:
        wanted["restock_required"] = False
    if result == "needs_repair":
        wanted["status"] = "out_of_service"
    after = await apply_changes(session, who.id, current, wanted, now=now, action="inspected")
    await _publish(
        session,
        [
            (
                AedInspected(
                    aed_id=aed_id,
                    district=current["district"],
                    result=result,
                    restock_cleared=cleared,
                    inspected_by=who.id,
                    inspected_on=inspected_on,
                ),
                aed_id,
            )
        ],
        who.id,
    )
    return after


async def _publish(session: AsyncSession, events: list[tuple[Any, uuid.UUID]], actor: str) -> None:
    """Each (event data, device) to the outbox, in order."""
    await record_events(
        session,
        topic=Topic.AED,
        events=[
            (build_event(source="aed", data=data, subject=str(aed_id), actor=actor), None) for data, aed_id in events
        ],
    )


def _plain_value(value: Any) -> Any:
    if isinstance(value, (date, datetime, uuid.UUID)):
        return str(value)
    if isinstance(value, list):
        return [_plain_value(v) for v in value]
    return value


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {k: _plain_value(v) for k, v in values.items()}
