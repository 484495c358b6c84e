from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from aed.api.gates import Dispatcher, Person, Reporter, settings_of
from aed.domain import incidents, responders
from aed.domain.devices import Position
from contracts.districts import District
from servicekit import clock, idempotency
from servicekit.auth import CurrentPrincipal
from servicekit.deps import DbSession
from servicekit.geo import PositionOut
from servicekit.idempotency import OptionalIdempotencyKey
from servicekit.pagination import Page, PageParams

router = APIRouter(tags=["responders and incidents"])


class DutyIn(BaseModel):
    on_duty: bool
    position: Position | None = Field(default=None, description="required when going or staying on duty")


class SosIn(BaseModel):
    position: Position
    district: District | None = Field(
        default=None,
        description="the position's district code, as the map SDK "
        "(adcode) or 120 reports it: its district's officers see the incident",
    )
    address: str | None = Field(default=None, max_length=200, description="shown only to responders who accept")
    note: str | None = Field(default=None, max_length=500)
    dispatch_ref: str | None = Field(default=None, max_length=64, description="120's case number")


class ResponseIn(BaseModel):
    accept: bool


class ArrivalIn(BaseModel):
    with_aed: bool = False


class DispatchIn(BaseModel):
    status: str = Field(min_length=2, max_length=60, description="e.g. ambulance_dispatched; for a close, the outcome")
    note: str | None = Field(default=None, max_length=500)


AlertStatus = Literal["sent", "accepted", "declined", "cancelled", "withdrawn"]
Role = Literal["fetch_aed", "direct"]
Progress = Literal["alerted", "delivered", "seen", "accepted", "declined", "arrived", "cancelled", "withdrawn"]


class DutyOut(BaseModel):
    on_duty: bool
    refresh_before: datetime | None = Field(
        default=None, description="report your position again before this, or you are taken off duty"
    )


class AlertOut(BaseModel):
    """One responder's alert as the caller, 120 and staff see it (never the responder's position)."""

    responder_id: uuid.UUID
    wave: int
    distance_m: int
    status: AlertStatus
    role: Role | None = Field(description="fetch_aed: sent for the AED first; direct: straight to the patient")
    aed_id: uuid.UUID | None
    sent_at: datetime
    answered_at: datetime | None
    arrived_at: datetime | None
    arrived_with_aed: bool | None
    progress: Progress = Field(
        description="alerted → delivered (WeChat or SMS accepted it) → seen (opened in the app) → accepted or "
        "declined; then arrived, or how it ended (cancelled, withdrawn)"
    )
    delivered_at: datetime | None = Field(description="when the alert first reached the responder's phone")
    delivered_by: list[Literal["wechat", "sms"]] = Field(description="the channels that delivered it")
    seen_at: datetime | None
    resent_at: datetime | None = Field(description="sent again by SMS: delivered by WeChat, unseen in time")
    eta_at: datetime | None = Field(
        description="estimated arrival at the patient (via the AED when fetching), on foot, from where they accepted"
    )


class IncidentOut(BaseModel):
    """The whole incident: for the caller, 120 and staff in scope (the exact address only with a reason)."""

    id: uuid.UUID
    lat: float
    lon: float
    district: str | None
    address: str | None = Field(
        default=None,
        description="for the caller and 120; staff get it by giving a `reason` (put on record), otherwise it is absent",
    )
    note: str | None
    source: Literal["app", "120"]
    reported_by: str
    dispatch_ref: str | None
    state: Literal["open", "closed"]
    outcome: str | None
    needed: int = Field(description="responders the incident needs")
    wave: int
    next_wave_at: datetime | None
    opened_at: datetime
    closed_at: datetime | None
    alerts: list[AlertOut]
    accepted: int
    first_responder_eta_at: datetime | None = Field(
        default=None, description="the earliest estimated arrival of a responder on their way"
    )
    aed_eta_at: datetime | None = Field(default=None, description="the earliest estimated arrival of an AED")


class MyIncident(BaseModel):
    """An incident as an alerted responder sees it: the exact place, address and note only once they accepted
    (absent before)."""

    incident_id: uuid.UUID
    state: Literal["open", "closed"]
    my_status: AlertStatus | None
    my_role: Role | None
    aed_id: uuid.UUID | None = Field(description="the AED you are sent to fetch")
    distance_m: int | None
    approximate_position: PositionOut = Field(description="rounded to about 100 m")
    position: PositionOut | None = None
    address: str | None = None
    note: str | None = None


class MyAlert(MyIncident):
    sent_at: datetime


@router.put(
    "/api/v1/responders/me/duty",
    response_model=DutyOut,
    summary="Go on or off duty with your position (kept only while on duty and fresh; never shown to anyone)",
)
async def duty(body: DutyIn, me: Person, session: DbSession, request: Request) -> DutyOut:
    person = uuid.UUID(me.id)
    if not body.on_duty:
        await responders.go_off_duty(session, person)
        return DutyOut(on_duty=False)
    refresh_before = await responders.go_on_duty(
        session, person, body.position, settings=settings_of(request), now=clock.now()
    )
    return DutyOut(on_duty=True, refresh_before=refresh_before)


@router.get(
    "/api/v1/responders/me/alerts",
    response_model=Page[MyAlert],
    response_model_exclude_unset=True,
    summary="Your alerts, newest first (for the app to poll; cursor pages)",
)
async def my_alerts(me: Person, session: DbSession, page: PageParams) -> dict:
    shown, cursor = await incidents.my_alerts(session, uuid.UUID(me.id), page.for_list(incidents.MY_ALERTS))
    return {"items": shown, "next_cursor": cursor}


class ReportedIncident(BaseModel):
    """An incident the caller raised, as they follow it."""

    id: uuid.UUID
    district: str | None
    address: str | None
    note: str | None
    state: Literal["open", "closed"]
    outcome: str | None
    opened_at: datetime
    closed_at: datetime | None
    accepted: int = Field(description="responders on their way or there")


@router.get(
    "/api/v1/incidents/mine",
    response_model=Page[ReportedIncident],
    summary="The SOS calls you raised, newest first (cursor pages)",
)
async def my_incidents(me: Person, session: DbSession, page: PageParams) -> Page[ReportedIncident]:
    shown, cursor = await incidents.reported_by(session, me, page.for_list(incidents.MY_INCIDENTS))
    return Page[ReportedIncident](items=[ReportedIncident.model_validate(r) for r in shown], next_cursor=cursor)


@router.post(
    "/api/v1/incidents",
    status_code=201,
    response_model=IncidentOut,
    summary="SOS at a position (anyone signed in, or 120)",
)
async def sos(
    body: SosIn, who: Reporter, session: DbSession, request: Request, idempotency_key: OptionalIdempotencyKey = None
) -> IncidentOut | JSONResponse:
    # A phone retrying an SOS over a bad network must not raise a second incident (and a second wave of alerts).
    held = await idempotency.claim(session, caller=who.id, key=idempotency_key, request=body.model_dump(mode="json"))
    if isinstance(held, JSONResponse):
        return held
    point = body.position.wgs84()
    incident_id = await incidents.open_incident(
        session,
        who,
        point=point,
        district=body.district,
        address=body.address,
        note=body.note,
        dispatch_ref=body.dispatch_ref,
        settings=settings_of(request),
        now=clock.now(),
    )
    answer = IncidentOut.model_validate(await incidents.view(session, who, incident_id))
    if held is not None:
        await held.answer(session, 201, answer.model_dump(mode="json"))
    return answer


@router.get(
    "/api/v1/incidents/{incident_id}",
    response_model=IncidentOut | MyIncident,
    response_model_exclude_unset=True,
    summary="State, alerts and assignments (caller, 120, staff); an alerted responder sees their part",
)
async def get_incident(
    incident_id: uuid.UUID,
    who: CurrentPrincipal,
    session: DbSession,
    reason: Annotated[
        str | None,
        Query(min_length=2, max_length=200, description="staff: why you need the exact address (put on record)"),
    ] = None,
) -> dict:
    return await incidents.view(session, who, incident_id, reason=reason, now=clock.now())


@router.post(
    "/api/v1/incidents/{incident_id}/responses",
    response_model=MyIncident,
    response_model_exclude_unset=True,
    summary="Accept or decline an alert",
)
async def respond(incident_id: uuid.UUID, body: ResponseIn, me: Person, session: DbSession, request: Request) -> dict:
    return await incidents.respond(
        session, me, incident_id, accept=body.accept, settings=settings_of(request), now=clock.now()
    )


class ReasonIn(BaseModel):
    reason: str = Field(min_length=2, max_length=200)


@router.post(
    "/api/v1/incidents/{incident_id}/seen",
    response_model=MyIncident,
    response_model_exclude_unset=True,
    summary="The alert was opened in the app (a read receipt): no SMS follows it",
)
async def seen(incident_id: uuid.UUID, me: Person, session: DbSession) -> dict:
    return await incidents.alert_seen(session, me, incident_id, now=clock.now())


@router.post(
    "/api/v1/incidents/{incident_id}/withdrawal",
    response_model=MyIncident,
    response_model_exclude_unset=True,
    summary="Withdraw after accepting, before arriving: an AED you were fetching passes to another responder, "
    "and others are alerted if too few remain",
)
async def withdraw(incident_id: uuid.UUID, body: ReasonIn, me: Person, session: DbSession, request: Request) -> dict:
    return await incidents.withdraw(
        session, me, incident_id, reason=body.reason, settings=settings_of(request), now=clock.now()
    )


@router.post(
    "/api/v1/incidents/{incident_id}/cancel",
    response_model=IncidentOut,
    response_model_exclude_unset=True,
    summary="The caller calls off their SOS (a false alarm, or the person came round); 120 is told",
)
async def cancel(incident_id: uuid.UUID, body: ReasonIn, me: Person, session: DbSession, request: Request) -> dict:
    return await incidents.cancel_by_caller(
        session, me, incident_id, reason=body.reason, settings=settings_of(request), now=clock.now()
    )


@router.post(
    "/api/v1/incidents/{incident_id}/arrival",
    response_model=MyIncident,
    response_model_exclude_unset=True,
    summary="Arrived at the patient (with or without the AED)",
)
async def arrival(incident_id: uuid.UUID, body: ArrivalIn, me: Person, session: DbSession, request: Request) -> dict:
    return await incidents.arrive(
        session, me, incident_id, with_aed=body.with_aed, settings=settings_of(request), now=clock.now()
    )


@router.post(
    "/api/v1/incidents/{incident_id}/updates",
    response_model=IncidentOut,
    response_model_exclude_unset=True,
    summary="120's status updates (ambulance dispatched, …)",
)
async def dispatch_update(
    incident_id: uuid.UUID, body: DispatchIn, who: Dispatcher, session: DbSession, request: Request
) -> dict:
    return await incidents.dispatch_update(
        session,
        who,
        incident_id,
        status=body.status,
        note=body.note,
        close=False,
        settings=settings_of(request),
        now=clock.now(),
    )


@router.post(
    "/api/v1/incidents/{incident_id}/close",
    response_model=IncidentOut,
    response_model_exclude_unset=True,
    summary="Close with an outcome (120 or staff)",
)
async def close(
    incident_id: uuid.UUID, body: DispatchIn, who: Dispatcher, session: DbSession, request: Request
) -> dict:
    return await incidents.dispatch_update(
        session,
        who,
        incident_id,
        status=body.status,
        note=body.note,
        close=True,
        settings=settings_of(request),
        now=clock.now(),
    )


class DutyHeld(BaseModel):
    position: PositionOut = Field(description="the position you last reported, kept while you are on duty")
    reported_at: datetime


class AedExport(BaseModel):
    """What svc-aed holds about the caller."""

    incidents_raised: list[ReportedIncident]
    alerts_received: list[MyAlert]
    on_duty: DutyHeld | None = Field(description="null when off duty (no position is kept then)")


@router.get(
    "/api/v1/me/data/aed",
    response_model=AedExport,
    response_model_exclude_unset=True,
    summary="The caller's data held by svc-aed: SOS calls raised, alerts received and duty (part of "
    "GET /api/v1/me/data)",
)
async def my_aed_data(me: Person, session: DbSession) -> dict:
    return await incidents.data_of(session, me)
