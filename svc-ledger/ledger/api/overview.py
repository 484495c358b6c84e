from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from contracts.districts import DISTRICTS, District
from ledger.api.accounts import UNIT
from ledger.domain import overview
from servicekit import exports
from servicekit.auth import Principal, require_roles
from servicekit.deps import DbSession
from servicekit.openapi import problem_responses
from servicekit.pagination import Page, PageParams

router = APIRouter(tags=["accounts"])
StaffReader = Annotated[Principal, Depends(require_roles("district_officer", "city_admin", "auditor"))]


class DistrictIssued(BaseModel):
    district: str
    issued: int = Field(description="minutes granted from the district's issuance account, in all")


class IssuanceResponse(BaseModel):
    unit: str = Field("minute", description=UNIT)
    districts: list[DistrictIssued]
    welfare_balance: int | None = Field(description="the public-welfare account (city admin and auditors only)")


@router.get(
    "/api/v1/accounts/issuance",
    response_model=IssuanceResponse,
    responses=problem_responses(403),
    summary="Coins each district has granted, and the public-welfare account's balance",
)
async def issuance(
    reader: StaffReader, session: DbSession, district: Annotated[District | None, Query()] = None
) -> IssuanceResponse:
    found = await overview.issuance(session, reader, district)
    return IssuanceResponse(
        districts=[DistrictIssued(district=d, issued=v) for d, v in found.by_district.items()],
        welfare_balance=found.welfare_balance,
    )


class MilestoneHolder(BaseModel):
    person_id: uuid.UUID
    district: str | None
    lifetime_earned: int = Field(description="minutes earned by service, in all")
    milestone_reached_at: datetime


@router.get(
    "/api/v1/accounts/milestones",
    response_model=Page[MilestoneHolder],
    responses=problem_responses(403),
    summary="Who reached the 10,000-coin milestone (nursing-home priority), the latest first (cursor pages)",
)
async def milestones(
    reader: StaffReader,
    session: DbSession,
    page: PageParams,
    district: Annotated[District | None, Query()] = None,
) -> Page[MilestoneHolder]:
    wanted = page.for_list(overview.MILESTONES)
    rows, cursor = await overview.milestones(session, reader, district, wanted)
    return Page[MilestoneHolder](items=[MilestoneHolder(**r) for r in rows], next_cursor=cursor)


MILESTONE_COLUMNS = [
    exports.Column("person_id", "人员编号"),
    exports.Column("district_name", "所在区"),
    exports.Column("coins_earned", "累计服务所得（时间币）"),
    exports.Column("milestone_reached_at", "达到时间"),
]


@router.get(
    "/api/v1/accounts/milestones/export",
    response_class=Response,
    responses={**exports.RESPONSES, **problem_responses(403, 422)},
    summary="The milestone list as a CSV or XLSX file; the export is on the audit trail",
)
async def export_milestones(
    reader: StaffReader,
    session: DbSession,
    format: exports.Format = "xlsx",
    district: Annotated[District | None, Query()] = None,
) -> Response:
    rows = await overview.milestones_for_export(session, reader, district, format)
    shown = [
        r | {"district_name": DISTRICTS.get(r["district"] or "", ""), "coins_earned": r["lifetime_earned"] / 60}
        for r in rows
    ]
    return exports.file(MILESTONE_COLUMNS, shown, format, "万币里程碑名单")


SUMMARY_COLUMNS = [
    exports.Column("district_name", "区"),
    exports.Column("issued", "政府累计赠予（时间币）"),
    exports.Column("earned", "未兑换：服务所得"),
    exports.Column("gifted", "未兑换：亲属赠予"),
    exports.Column("granted", "未兑换：政府赠予"),
    exports.Column("allocated", "未兑换：公益分配"),
    exports.Column("outstanding", "未兑换合计"),
]


@router.get(
    "/api/v1/accounts/liability/export",
    response_class=Response,
    responses={**exports.RESPONSES, **problem_responses(403, 422)},
    summary="Per district: coins granted by its office and coins its residents still hold by origin (the redemption "
    "liability), in coins, as a CSV or XLSX file; the export is on the audit trail",
)
async def export_summary(
    reader: StaffReader,
    session: DbSession,
    format: exports.Format = "xlsx",
    district: Annotated[District | None, Query()] = None,
) -> Response:
    rows = await overview.summary_for_export(session, reader, district, format)
    shown = [
        {
            "district_name": DISTRICTS.get(r.district, "未登记"),
            "issued": r.issued / 60,
            **{origin: minutes / 60 for origin, minutes in r.by_origin().items()},
            "outstanding": sum(r.outstanding.values()) / 60,
        }
        for r in rows
    ]
    return exports.file(SUMMARY_COLUMNS, shown, format, "时间币发放与负债")
