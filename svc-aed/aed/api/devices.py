from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal, Self

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from aed.api.gates import Dispatcher, settings_of
from aed.db import devices as repo
from aed.domain import coverage, devices, imports, lookup, organisations
from contracts.districts import DISTRICTS, District
from servicekit import clock, exports, geo
from servicekit.auth import Principal, require_roles
from servicekit.deps import DbSession
from servicekit.errors import Forbidden, NotFound, UnprocessableInput
from servicekit.geo import PositionOut
from servicekit.openapi import problem_responses

router = APIRouter(tags=["aeds"])
Keeper = Annotated[Principal, Depends(require_roles("city_admin", "district_officer", "aed_owner"))]
Overseer = Annotated[Principal, Depends(require_roles("city_admin", "district_officer"))]
CityAdmin = Annotated[Principal, Depends(require_roles("city_admin"))]


class NearbyAed(BaseModel):
    id: uuid.UUID
    name: str
    distance_m: int
    position: PositionOut
    position_gcj02: PositionOut = Field(description="for Chinese maps (WeChat, AMap, Tencent)")
    address: str
    indoor: bool
    floor: str | None
    access_directions: str | None
    opening_hours: str
    kiosk_with_first_aid_kit: bool
    child_pads_ok: bool
    consumables_unverified: bool
    contact_phone: str | None

    @classmethod
    def of(cls, device: dict) -> Self:
        """From a lookup's row (aed.domain.lookup): distances in whole metres, positions in both datums."""
        return cls(
            **{k: v for k, v in device.items() if k in cls.model_fields and k != "distance_m"},
            distance_m=round(device["distance_m"]),
            position=PositionOut(lat=device["lat"], lon=device["lon"]),
            position_gcj02=PositionOut(**device["gcj02"]),
        )


class RegisteredAed(NearbyAed):
    """A device as 120 sees it around a point: usable now or not, and why not."""

    status: str
    access: str
    usable_now: bool
    not_usable_because: list[
        Literal["not_working", "not_public", "restock_required", "battery_expired", "adult_pads_expired", "closed_now"]
    ]
    battery_expires_on: date | None
    adult_pads_expires_on: date | None
    last_inspected_on: date | None


class AedOut(BaseModel):
    id: uuid.UUID
    serial: str
    name: str
    position: PositionOut
    address: str
    district: str
    indoor: bool
    floor: str | None
    access_directions: str | None
    access: str
    opening_hours: str
    season_from: date | None
    season_until: date | None
    closures: list[date]
    status: str
    manufacturer: str | None
    model: str | None
    install_date: date | None
    battery_expires_on: date | None
    adult_pads_expires_on: date | None
    child_pads_expires_on: date | None
    last_inspected_on: date | None
    organisation_id: uuid.UUID | None
    contact_phone: str | None
    kiosk_with_first_aid_kit: bool
    restock_required: bool
    updated_at: datetime
    history: list[dict] | None = None

    @classmethod
    def of(cls, row: dict, history: list[dict] | None = None) -> AedOut:
        return cls(
            **{k: v for k, v in row.items() if k in cls.model_fields},
            position=PositionOut(lat=row["lat"], lon=row["lon"]),
            history=history,
        )


class InspectionIn(BaseModel):
    inspected_on: date
    result: Literal["ok", "needs_repair"]
    notes: str | None = Field(default=None, max_length=1000)
    battery_expires_on: date | None = Field(default=None, description="a new battery's expiry, if replaced")
    adult_pads_expires_on: date | None = None
    child_pads_expires_on: date | None = None


class OrganisationIn(BaseModel):
    name: str = Field(min_length=2, max_length=100)
    kind: organisations.Kind
    district: District
    headcount: int = Field(ge=0, le=200_000)


class StaffIn(BaseModel):
    staff_id: uuid.UUID


class OrganisationOut(BaseModel):
    id: uuid.UUID
    name: str
    kind: organisations.Kind
    district: str
    headcount: int


class DistrictCoverage(BaseModel):
    district: str
    name: str
    devices: int
    population: int
    per_1000: float | None = Field(description="devices per 1,000 residents; null without a population figure")
    needed_for_standard: int
    below_standard: bool


class OrganisationCoverage(OrganisationOut):
    devices: int
    per_1000: float | None = Field(description="devices per 1,000 of its headcount; null without a headcount")
    needed_for_standard: int
    below_standard: bool


class CoverageOut(BaseModel):
    standard_per_1000: float
    districts: list[DistrictCoverage]
    organisations: list[OrganisationCoverage]
    districts_below: list[str]
    organisations_below: list[uuid.UUID]


@router.get(
    "/api/v1/aeds",
    response_model=list[NearbyAed],
    summary="Nearest AEDs usable now (no token): working, public, consumables valid, open now in Beijing time",
)
async def nearest(
    session: DbSession,
    request: Request,
    near: geo.NearQuery,
    coord_system: Annotated[geo.CoordSystem, Query()] = "wgs84",
    limit: Annotated[int | None, Query(ge=1, le=20)] = None,
    open_now: Annotated[bool, Query(description="false: also devices closed at this moment")] = True,
) -> list[NearbyAed]:
    settings = settings_of(request)
    point = geo.near_point(near, coord_system)
    found = await lookup.nearest(
        session,
        point,
        limit=limit or settings.lookup_default_limit,
        radius_m=settings.lookup_max_radius_m,
        open_now=open_now,
        holidays=set(settings.public_holidays),
        now=clock.now(),
    )
    return [NearbyAed.of(d) for d in found]


@router.get(
    "/api/v1/aeds/around",
    response_model=list[RegisteredAed],
    summary="For 120 (and staff): every registered device around a point, usable now or not, and why not",
)
async def around(
    caller: Dispatcher,
    session: DbSession,
    request: Request,
    near: geo.NearQuery,
    coord_system: Annotated[geo.CoordSystem, Query()] = "wgs84",
    radius_m: Annotated[int | None, Query(ge=1, description="at most AED_LOOKUP_MAX_RADIUS_M")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[RegisteredAed]:
    settings = settings_of(request)
    found = await lookup.around(
        session,
        geo.near_point(near, coord_system),
        limit=limit,
        radius_m=min(radius_m or settings.lookup_max_radius_m, settings.lookup_max_radius_m),
        holidays=set(settings.public_holidays),
        now=clock.now(),
    )
    return [RegisteredAed.of(d) for d in found]


@router.get(
    "/api/v1/aeds/coverage",
    response_model=CoverageOut,
    summary="Devices per 1,000 people by district and by school, and those below 2",
)
async def get_coverage(
    staff: Overseer, session: DbSession, request: Request, district: Annotated[District | None, Query()] = None
) -> CoverageOut:
    settings = settings_of(request)
    return CoverageOut.model_validate(
        await coverage.coverage(
            session,
            staff,
            district=district,
            population=settings.district_population,
            standard=settings.coverage_standard_per_1000,
        )
    )


COVERAGE_COLUMNS = {
    "districts": [
        exports.Column("name", "区"),
        exports.Column("population", "常住人口"),
        exports.Column("devices", "AED台数"),
        exports.Column("per_1000", "每千人台数"),
        exports.Column("needed_for_standard", "达标尚需台数"),
        exports.Column("below_standard", "低于标准"),
    ],
    "organisations": [
        exports.Column("name", "单位"),
        exports.Column("kind_name", "类型"),
        exports.Column("district_name", "所在区"),
        exports.Column("headcount", "人数"),
        exports.Column("devices", "AED台数"),
        exports.Column("per_1000", "每千人台数"),
        exports.Column("needed_for_standard", "达标尚需台数"),
        exports.Column("below_standard", "低于标准"),
    ],
}
ORGANISATION_KINDS = {
    "primary_secondary_school": "中小学",
    "vocational_school": "职业院校",
    "university": "高等院校",
    "venue": "公共场所",
}


@router.get(
    "/api/v1/aeds/coverage/export",
    response_class=Response,
    responses={**exports.RESPONSES, **problem_responses(403, 422)},
    summary="One table of the coverage summary (by district, or by school and venue) as a CSV or XLSX file; "
    "the export is on the audit trail",
)
async def export_coverage(
    staff: Overseer,
    session: DbSession,
    request: Request,
    format: exports.Format = "xlsx",
    table: Literal["districts", "organisations"] = "districts",
    district: Annotated[District | None, Query()] = None,
) -> Response:
    settings = settings_of(request)
    rows = await coverage.coverage_for_export(
        session,
        staff,
        district=district,
        population=settings.district_population,
        standard=settings.coverage_standard_per_1000,
        table=table,
        fmt=format,
    )
    shown = [
        row
        | {
            "district_name": DISTRICTS.get(row["district"], row["district"]),
            "kind_name": ORGANISATION_KINDS.get(row.get("kind", ""), ""),
        }
        for row in rows
    ]
    title = "AED覆盖率-按区" if table == "districts" else "AED覆盖率-按单位"
    return exports.file(COVERAGE_COLUMNS[table], shown, format, title)


@router.post(
    "/api/v1/aeds/organisations",
    status_code=201,
    response_model=OrganisationOut,
    summary="Register an owner organisation (school, venue)",
)
async def create_organisation(body: OrganisationIn, staff: Overseer, session: DbSession) -> OrganisationOut:
    return OrganisationOut.model_validate(await organisations.create(session, staff, **body.model_dump()))


@router.post(
    "/api/v1/aeds/organisations/{organisation_id}/staff",
    response_model=OrganisationOut,
    summary="Let an owner-staff account keep its devices",
)
async def add_organisation_staff(
    organisation_id: uuid.UUID, body: StaffIn, staff: Overseer, session: DbSession
) -> OrganisationOut:
    return OrganisationOut.model_validate(await organisations.add_staff(session, staff, organisation_id, body.staff_id))


_IMPORT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string"}, "example": imports.CSV_EXAMPLE},
            "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
        },
    }
}


class ImportedRow(BaseModel):
    row: int = Field(description="the CSV line (header = 1) or the JSON item (first = 1)")
    serial: str
    aed_id: uuid.UUID
    outcome: Literal["created", "updated", "unchanged"]


class ImportOut(BaseModel):
    created: int
    updated: int
    unchanged: int
    rows: list[ImportedRow]


@router.post(
    "/api/v1/aeds/import",
    openapi_extra=_IMPORT_BODY,
    response_model=ImportOut,
    summary="Bulk import, CSV (text/csv) or JSON, of devices the caller keeps (the city admin any, an officer their "
    "district's, owner staff their organisation's): all or nothing, problems by row; matched by serial, so the same "
    "file again changes nothing",
)
async def import_devices(keeper: Keeper, session: DbSession, request: Request) -> ImportOut:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if len(body) > 10_000_000:
        raise UnprocessableInput("文件过大", "At most 10 MB per import")
    try:
        content = body.decode("utf-8")
    except UnicodeDecodeError:
        raise UnprocessableInput("文件须为 UTF-8 编码", "The file must be UTF-8") from None
    if content_type in ("text/csv", "application/csv"):
        rows = imports.rows_from_csv(content)
    elif content_type == "application/json":
        rows = imports.rows_from_json(content)
    else:
        raise UnprocessableInput("请以 text/csv 或 application/json 上传", "Send text/csv or application/json")
    return ImportOut.model_validate(await imports.import_devices(session, keeper, rows, now=clock.now()))


@router.post("/api/v1/aeds", status_code=201, response_model=AedOut, summary="Register a device")
async def register(body: devices.NewDevice, staff: Keeper, session: DbSession) -> AedOut:
    return AedOut.of(await devices.register(session, staff, body, now=clock.now()))


@router.get("/api/v1/aeds/{aed_id}", response_model=AedOut, summary="A device's full record and history (its keepers)")
async def get_device(aed_id: uuid.UUID, staff: Keeper, session: DbSession) -> AedOut:
    row = await repo.get(session, aed_id)
    if row is None:
        raise NotFound("设备不存在", "No such device")
    if not await devices.may_manage(session, staff, district=row["district"], organisation_id=row["organisation_id"]):
        raise Forbidden("只能查看本单位或本区的设备", "Only the owner's staff or the district's")
    return AedOut.of(row, history=await repo.history(session, aed_id))


@router.patch("/api/v1/aeds/{aed_id}", response_model=AedOut, summary="Update status, hours, expiry dates …")
async def update(aed_id: uuid.UUID, body: devices.DeviceFields, staff: Keeper, session: DbSession) -> AedOut:
    return AedOut.of(await devices.change(session, staff, aed_id, body, now=clock.now()))


@router.post(
    "/api/v1/aeds/{aed_id}/inspections",
    status_code=201,
    response_model=AedOut,
    summary="Record an inspection (an ok one clears a restock; replaced consumables get new dates)",
)
async def inspect(aed_id: uuid.UUID, body: InspectionIn, staff: Keeper, session: DbSession) -> AedOut:
    replaced = {k: v for k, v in body.model_dump().items() if k.endswith("_expires_on") and v is not None}
    return AedOut.of(
        await devices.inspect(
            session,
            staff,
            aed_id,
            inspected_on=body.inspected_on,
            result=body.result,
            notes=body.notes,
            replaced=replaced,
            now=clock.now(),
        )
    )
