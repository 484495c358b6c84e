from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel

from aed.domain import registry
from aed.domain.lookup import BEIJING
from contracts.districts import DISTRICTS, District
from servicekit import clock, exports
from servicekit.auth import Principal, require_roles
from servicekit.deps import DbSession
from servicekit.openapi import problem_responses
from servicekit.pagination import Page, PageParams

router = APIRouter(tags=["aeds"])
Keeper = Annotated[Principal, Depends(require_roles("city_admin", "district_officer", "aed_owner"))]
Status = Literal["working", "out_of_service", "temporarily_absent", "removed", "unknown"]


class RegistryPosition(BaseModel):
    lat: float
    lon: float


class RegistryEntry(BaseModel):
    id: uuid.UUID
    serial: str
    name: str
    position: RegistryPosition
    address: str
    district: str
    indoor: bool
    access: str
    opening_hours: str
    status: str
    organisation_id: uuid.UUID | None
    battery_expires_on: date | None
    adult_pads_expires_on: date | None
    child_pads_expires_on: date | None
    last_inspected_on: date | None
    restock_required: bool


@router.get(
    "/api/v1/aeds/registry",
    response_model=Page[RegistryEntry],
    responses=problem_responses(403),
    summary="The registry for its keepers (city admin: all; an officer: their district; owner staff: their "
    "organisations'), newest first; removed devices only when asked for by status",
)
async def browse(
    keeper: Keeper,
    session: DbSession,
    page: PageParams,
    district: Annotated[District | None, Query()] = None,
    status: Annotated[Status | None, Query()] = None,
    expiring_within_days: Annotated[
        int | None, Query(ge=0, le=3650, description="battery or pads expire within this many days (or have)")
    ] = None,
) -> Page[RegistryEntry]:
    wanted = page.for_list(registry.LIST)
    rows, cursor = await registry.browse(
        session,
        keeper,
        wanted,
        district=district,
        status=status,
        expiring_within_days=expiring_within_days,
        today=clock.now().astimezone(BEIJING).date(),
    )
    items = [RegistryEntry(**row, position=RegistryPosition(lat=row["lat"], lon=row["lon"])) for row in rows]
    return Page[RegistryEntry](items=items, next_cursor=cursor)


EXPORTED = [
    exports.Column("serial", "序列号"),
    exports.Column("name", "名称"),
    exports.Column("address", "地址"),
    exports.Column("district_name", "所在区"),
    exports.Column("status", "状态"),
    exports.Column("access", "可用范围"),
    exports.Column("opening_hours", "开放时间"),
    exports.Column("battery_expires_on", "电池有效期"),
    exports.Column("adult_pads_expires_on", "成人电极片有效期"),
    exports.Column("child_pads_expires_on", "儿童电极片有效期"),
    exports.Column("last_inspected_on", "最近巡检"),
    exports.Column("lat", "纬度(WGS-84)"),
    exports.Column("lon", "经度(WGS-84)"),
]


@router.get(
    "/api/v1/aeds/registry/export",
    response_class=Response,
    responses={**exports.RESPONSES, **problem_responses(403, 422)},
    summary="The same registry list as a CSV or XLSX file; the export is on the audit trail",
)
async def export_registry(
    keeper: Keeper,
    session: DbSession,
    format: exports.Format = "xlsx",
    district: Annotated[District | None, Query()] = None,
    status: Annotated[Status | None, Query()] = None,
    expiring_within_days: Annotated[int | None, Query(ge=0, le=3650)] = None,
) -> Response:
    rows = await registry.export(
        session,
        keeper,
        district=district,
        status=status,
        expiring_within_days=expiring_within_days,
        today=clock.now().astimezone(BEIJING).date(),
        fmt=format,
    )
    shown = [row | {"district_name": DISTRICTS.get(row["district"], row["district"])} for row in rows]
    return exports.file(EXPORTED, shown, format, "AED设备登记")
