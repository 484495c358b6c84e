from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from audit.domain import alerts
from contracts.districts import District
from servicekit import clock
from servicekit.auth import Principal, require_roles
from servicekit.deps import DbSession
from servicekit.errors import Forbidden
from servicekit.pagination import Page, PageParams

router = APIRouter(tags=["alerts"])
Auditor = Annotated[Principal, Depends(require_roles("auditor"))]
Overseer = Annotated[Principal, Depends(require_roles("auditor", "city_admin", "district_officer"))]
RULES = Literal[
    "overlapping_services",
    "two_way_service",
    "late_night_service",
    "far_from_place",
    "implausible_duration",
    "frequent_gifting",
    "gift_chain",
]


class AlertOut(BaseModel):
    id: uuid.UUID
    rule: str
    severity: Literal["low", "medium", "high"]
    status: Literal["open", "confirmed", "dismissed"]
    district: str | None
    people: list[uuid.UUID] = Field(description="the people (and so their accounts) involved")
    institution_id: uuid.UUID | None
    evidence: list[uuid.UUID] = Field(description="ids of the events that make the pattern")
    request_ids: list[uuid.UUID] = Field(description="the service records concerned")
    first_at: datetime
    last_at: datetime
    summary: str
    decision: dict | None = None


class DecisionIn(BaseModel):
    decision: Literal["confirm", "dismiss"]
    note: str = Field(min_length=2, max_length=1000, description="what the follow-up (回访) found")
    person_ids: list[uuid.UUID] | None = Field(
        default=None, description="whom to sanction (default: everyone involved)"
    )
    list_institution: bool = Field(default=False, description="also put the institution involved on 失信名单")


class DecisionOut(BaseModel):
    alert: AlertOut
    sanction_ids: list[uuid.UUID]


@router.get(
    "/api/v1/alerts",
    response_model=Page[AlertOut],
    summary="Fraud warnings (预警), highest severity first, then the latest (cursor pages)",
)
async def list_alerts(
    reader: Overseer,
    session: DbSession,
    page: PageParams,
    status: Annotated[Literal["open", "confirmed", "dismissed"] | None, Query()] = None,
    rule: Annotated[RULES | None, Query()] = None,
    district: Annotated[District | None, Query()] = None,
) -> Page[AlertOut]:
    found, cursor = await alerts.list_alerts(
        session, reader, page.for_list(alerts.ALERTS), status=status, rule=rule, district=district
    )
    return Page[AlertOut](items=[AlertOut(**vars(a)) for a in found], next_cursor=cursor)


@router.get("/api/v1/alerts/{alert_id}", response_model=AlertOut, summary="One alert with its evidence and decision")
async def get_alert(alert_id: uuid.UUID, reader: Overseer, session: DbSession) -> AlertOut:
    found = await alerts.get(session, alert_id)
    if not reader.has_role("auditor", "city_admin") and found.district != reader.district:
        raise Forbidden("只能查看本区的预警", "Only your own district's alerts")
    return AlertOut(**vars(found))


@router.post(
    "/api/v1/alerts/{alert_id}/decision",
    response_model=DecisionOut,
    summary="Confirm (sanctions follow) or dismiss, with a note; the decision names the auditor",
)
async def decide(alert_id: uuid.UUID, body: DecisionIn, auditor: Auditor, session: DbSession) -> DecisionOut:
    decided, sanctions = await alerts.decide(
        session,
        auditor,
        alert_id,
        confirm=body.decision == "confirm",
        note=body.note,
        person_ids=body.person_ids,
        institution=body.list_institution,
        now=clock.now(),
    )
    return DecisionOut(alert=AlertOut(**vars(decided)), sanction_ids=sanctions)


class WatchReason(BaseModel):
    alert_id: uuid.UUID
    rule: str
    status: str = Field(description="the alert's status")
    reason: str
    since: datetime


class WatchedOut(BaseModel):
    subject_kind: Literal["person", "institution"]
    subject_id: uuid.UUID
    district: str | None
    since: datetime = Field(description="when the latest alert put them under tracking")
    alerts: list[WatchReason] = Field(description="every alert that put them there, the latest first")


@router.get(
    "/api/v1/watchlist",
    response_model=Page[WatchedOut],
    summary="People and institutions under tracking (跟踪), one entry each with the alerts and reasons, the "
    "latest first (cursor pages)",
)
async def watchlist(auditor: Auditor, session: DbSession, page: PageParams) -> Page[WatchedOut]:
    rows, cursor = await alerts.watchlist(session, page.for_list(alerts.WATCHLIST))
    return Page[WatchedOut](items=[WatchedOut(**row) for row in rows], next_cursor=cursor)
