"""The device registry: a record at least as rich as the French DAE schema (position, access, floor and
directions, opening hours, status, maker, serial, consumables, inspections, owner), kept by the owner's
staff (their organisation's devices) and district staff (their district's), every change in the history."""
from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.aed import AedChanged, AedInspected, AedRegistered
from contracts.districts import District
from contracts.topics import Topic
from servicekit import geo
from servicekit.auth import Principal
from servicekit.errors import Conflict, Forbidden, NotFound
from servicekit.events import build_event, record_event
from aed.db import devices as repo
from aed.db import organisations as organisation_repo
from aed.domain import hours as opening

Status = Literal["working", "out_of_service", "temporarily_absent", "removed", "unknown"]
Access = Literal["public", "customers", "staff"]


Position = geo.Position


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
    opening_hours: str | None = Field(default=None, max_length=300,
                                      description="OpenStreetMap syntax: `24/7`, `Mo-Fr 07:30-18:00; PH off`")
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
                raise ValueError(f"opening_hours: {exc}") from None
        return value

    @model_validator(mode="after")
    def _season(self) -> "DeviceFields":
        if self.season_from and self.season_until and self.season_until < self.season_from:
            raise ValueError("season_until is before season_from")
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


async def may_manage(session: AsyncSession, who: Principal, *, district: str, organisation_id: uuid.UUID | None) -> bool:
    """City admins any device; district officers their district's; owner staff their organisation's."""
    if who.kind != "staff" or who.acting_for:
        return False
    if who.has_role("city_admin"):
        return True
    if who.has_role("district_officer") and who.district == district:
        return True
    return who.has_role("aed_owner") and await _member(session, who.id, organisation_id)


async def _organisation_district(session: AsyncSession, organisation_id: uuid.UUID | None) -> str | None:
    if organisation_id is None:
        return None
    district = (await organisation_repo.districts_of(session, [organisation_id])).get(organisation_id)
    if district is None:
        raise NotFound("所属单位不存在", "No such organisation")
    return district


async def register(session: AsyncSession, who: Principal, new: NewDevice, *, now: datetime,
                   action: str = "registered") -> dict:
    if not await may_manage(session, who, district=new.district, organisation_id=new.organisation_id):
        raise Forbidden("只能登记本单位或本区的设备", "Owner staff register their organisation's devices; districts theirs")
    org_district = await _organisation_district(session, new.organisation_id)
    if org_district is not None and org_district != new.district:
        raise Forbidden("设备所在区须与所属单位一致", "A device is in its organisation's district")
    if (await repo.by_serials(session, [new.serial])):
        raise Conflict("该序列号的设备已登记", "A device with that serial is registered already", serial=new.serial)
    aed_id = uuid.uuid4()
    values = {**columns_of(new), "id": aed_id, "created_at": now, "updated_at": now, "updated_by": who.id}
    await repo.insert(session, values)
    await repo.set_hours(session, aed_id, opening.parse(new.opening_hours))
    await repo.add_history(session, aed_id, at=now, by=who.id, action=action, changes=_plain(columns_of(new)))
    await _publish(session, AedRegistered(aed_id=aed_id, serial=new.serial, district=new.district,
                                          organisation_id=new.organisation_id, registered_by=who.id, registered_at=now),
                   aed_id, who.id)
    return await repo.get(session, aed_id)  # type: ignore[return-value]


async def change(session: AsyncSession, who: Principal, aed_id: uuid.UUID, fields: DeviceFields, *, now: datetime,
                 action: str = "changed") -> dict:
    current = await repo.get(session, aed_id, lock=True)
    if current is None:
        raise NotFound("设备不存在", "No such device")
    if not await may_manage(session, who, district=current["district"], organisation_id=current["organisation_id"]):
        raise Forbidden("只能维护本单位或本区的设备", "Only the owner's staff or the district's")
    wanted = columns_of(fields)
    target_org = wanted.get("organisation_id", current["organisation_id"])
    target_district = wanted.get("district", current["district"])
    if ("organisation_id" in wanted or "district" in wanted) and not await may_manage(
            session, who, district=target_district, organisation_id=target_org):
        raise Forbidden("不能把设备转给无权管理的单位或区", "You cannot move a device out of your own reach")
    return await apply_changes(session, who.id, current, wanted, now=now, action=action)


async def apply_changes(session: AsyncSession, by: str, current: dict, wanted: dict[str, Any], *, now: datetime,
                        action: str) -> dict:
    """Write what differs (nothing if nothing does), with its history and event."""
    diff = {k: v for k, v in wanted.items() if current.get(k) != v}
    if not diff:
        return current
    await repo.update(session, current["id"], {**diff, "updated_at": now, "updated_by": by})
    if "opening_hours" in diff:
        await repo.set_hours(session, current["id"], opening.parse(diff["opening_hours"]))
    await repo.add_history(session, current["id"], at=now, by=by, action=action,
                           changes={k: [_plain_value(current.get(k)), _plain_value(v)] for k, v in diff.items()})
    after = {**current, **diff}
    await _publish(session, AedChanged(
        aed_id=current["id"], district=after["district"], fields=sorted(diff), status=after["status"],
        usable_now_possible=after["status"] == "working" and after["access"] == "public" and not after["restock_required"],
        changed_by=by, changed_at=now), current["id"], by)
    return await repo.get(session, current["id"])  # type: ignore[return-value]


async def inspect(session: AsyncSession, who: Principal, aed_id: uuid.UUID, *, inspected_on: date,
                  result: Literal["ok", "needs_repair"], notes: str | None, replaced: dict[str, date], now: datetime) -> dict:
    """An inspection is recorded; an `ok` one clears a restock flag; replaced consumables get their new dates."""
    current = await repo.get(session, aed_id, lock=True)
    if current is None:
        raise NotFound("设备不存在", "No such device")
    if not await may_manage(session, who, district=current["district"], organisation_id=current["organisation_id"]):
        raise Forbidden("只能检查本单位或本区的设备", "Only the owner's staff or the district's")
    await repo.add_inspection(session, aed_id, inspected_on=inspected_on, result=result, notes=notes, by=who.id, at=now)
    wanted: dict[str, Any] = {"last_inspected_on": max(inspected_on, current["last_inspected_on"] or inspected_on), **replaced}
    cleared = result == "ok" and current["restock_required"]
    if cleared:
        wanted["restock_required"] = False
    if result == "needs_repair":
        wanted["status"] = "out_of_service"
    after = await apply_changes(session, who.id, current, wanted, now=now, action="inspected")
    await _publish(session, AedInspected(aed_id=aed_id, district=current["district"], result=result,
                                         restock_cleared=cleared, inspected_by=who.id, inspected_on=inspected_on),
                   aed_id, who.id)
    return after


async def _publish(session: AsyncSession, data, aed_id: uuid.UUID, actor: str) -> None:
    await record_event(session, topic=Topic.AED, event=build_event(source="aed", data=data, subject=str(aed_id), actor=actor))


def _plain_value(value: Any) -> Any:
    if isinstance(value, (date, datetime, uuid.UUID)):
        return str(value)
    if isinstance(value, list):
        return [_plain_value(v) for v in value]
    return value


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {k: _plain_value(v) for k, v in values.items()}
