"""Incidents (网约式急救): an SOS at a position alerts the nearest on-duty responders in waves until enough
accept. Of those who accept, the first (up to `max_fetchers`) are sent to fetch an AED first — the usable
device minimising responder → AED → patient, locked to that one responder — when that path is at most
`fetch_max_path_m`; the others go straight to the patient. Once enough have accepted, the alerts still
pending are cancelled. The exact address is shown only to those who accepted, the caller and 120; staff in
scope (city admins, the district's officers) read it by giving a reason, put on record for audit. An
alerted responder sees the distance and a position rounded to ~100 m. Every step is an event and is
pushed to 120's system (aed.domain.dispatch)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from aed.db import devices as device_repo
from aed.db import dispatch as dispatch_repo
from aed.db import incidents as repo
from aed.db.incidents import Alert, AlertOfMine, Incident
from aed.domain import lookup, policy
from aed.domain.devices import apply_changes
from aed.settings import AedSettings
from contracts.aed import IncidentAddressAccessed, IncidentAlertRequested, IncidentOpened, IncidentStep
from contracts.topics import Topic
from servicekit import clock, geo
from servicekit.auth import Principal
from servicekit.errors import Conflict, NotFound
from servicekit.events import CloudEvent, build_event, record_event, record_events
from servicekit.ids import new_id
from servicekit.pagination import PageRequest, all_pages, page_of

_ALERTS = uuid.UUID("3c1b2a4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d")


async def _step(
    session: AsyncSession,
    settings: AedSettings,
    incident_id: uuid.UUID,
    step: str,
    now: datetime,
    *,
    actor: str,
    responder_id: uuid.UUID | None = None,
    aed_id: uuid.UUID | None = None,
    wave: int | None = None,
    detail: str | None = None,
) -> None:
    await _record_steps(
        session,
        settings,
        incident_id,
        [
            IncidentStep(
                incident_id=incident_id,
                step=step,
                responder_id=responder_id,
                aed_id=aed_id,
                wave=wave,
                detail=detail,
                at=now,
            )
        ],
        actor=actor,
        now=now,
    )


async def _record_steps(
    session: AsyncSession,
    settings: AedSettings,
    incident_id: uuid.UUID,
    steps: list[IncidentStep],
    *,
    actor: str,
    now: datetime,
    also: Sequence[CloudEvent] = (),
) -> None:
    """Steps as events (with `also`, in one statement), on the staff's live board, and, when 120 is linked, as
    updates queued for it. Every change to an incident is a step, so this is where the board hears of them."""
    events = [build_event(source="aed", data=data, subject=str(incident_id), actor=actor) for data in steps]
    await record_events(session, topic=Topic.AED, events=[(e, None) for e in [*events, *also]])
    await repo.announce_change(session, incident_id)
    if settings.dispatch_webhook_url:
        await dispatch_repo.queue(
            session, incident_id, [{"kind": "step", **data.model_dump(mode="json")} for data in steps], now
        )


async def open_incident(
    session: AsyncSession,
    who: Principal,
    *,
    point: geo.Point,
    district: str | None,
    address: str | None,
    note: str | None,
    dispatch_ref: str | None,
    settings: AedSettings,
    now: datetime,
) -> uuid.UUID:
    """Stores the incident and alerts the first wave in the caller's transaction (one commit: an SOS is
    never stored without its alerts); returns the incident's id."""
    source = "120" if who.kind == "partner" else "app"
    incident = Incident(
        id=new_id(),
        lat=point.lat,
        lon=point.lon,
        district=district,
        address=address,
        note=note,
        source=source,
        reported_by=who.id,
        dispatch_ref=dispatch_ref,
        state="open",
        outcome=None,
        needed=settings.responders_needed,
        wave=0,
        next_wave_at=now,
        opened_at=now,
        closed_at=None,
    )
    await repo.insert_incident(session, incident)
    await repo.announce_change(session, incident.id)  # on the board even if no one is near enough to alert
    aeds = await _usable_aeds(session, incident, settings, now)
    responders = await repo.count_responders_nearby(
        session,
        incident=incident,
        radius_m=settings.incident_radius_m,
        fresh_since=now - timedelta(seconds=settings.duty_ttl_s),
        now=now,
    )
    await record_event(
        session,
        topic=Topic.AED,
        event=build_event(
            source="aed",
            data=IncidentOpened(
                incident_id=incident.id,
                source=source,
                reported_by=who.id,
                aeds_nearby=len(aeds),
                responders_nearby=responders,
                opened_at=now,
            ),
            subject=str(incident.id),
            actor=who.id,
        ),
    )
    if settings.dispatch_webhook_url:
        await dispatch_repo.queue(
            session,
            incident.id,
            [
                {
                    "kind": "opened",
                    "incident_id": str(incident.id),
                    "position": {"lat": point.lat, "lon": point.lon},
                    "district": district,
                    "address": address,
                    "note": note,
                    "source": source,
                    "dispatch_ref": dispatch_ref,
                    "aeds_nearby": [{"aed_id": a.key, "distance_m": round(a.to_patient_m)} for a in aeds],
                    "opened_at": now.isoformat(),
                }
            ],
            now,
        )
    await next_wave(session, incident.id, settings=settings, now=now, force=True, incident=incident)
    return incident.id


async def _usable_aeds(
    session: AsyncSession, incident: Incident, settings: AedSettings, now: datetime
) -> list[policy.AedOption]:
    """The AEDs usable now near the patient, nearest first, keyed by their id."""
    found = await lookup.nearest(
        session,
        geo.Point(incident.lat, incident.lon),
        limit=20,
        radius_m=settings.incident_radius_m,
        open_now=True,
        holidays=set(settings.public_holidays),
        now=now,
    )
    return [policy.AedOption(str(a["id"]), geo.Point(a["lat"], a["lon"]), a["distance_m"]) for a in found]


async def next_wave(
    session: AsyncSession,
    incident_id: uuid.UUID,
    *,
    settings: AedSettings,
    now: datetime,
    force: bool = False,
    incident: Incident | None = None,
) -> int:
    """Alert the next nearest responders — at the start and when a wave's time is up (`force`), or when a
    decline leaves fewer pending or accepted than needed; returns how many were alerted. `incident`: one
    this transaction has just inserted (nobody else can see it, so no lock and no alerts yet)."""
    if incident is None:
        incident = await repo.incident(session, incident_id, lock=True)
        if incident is None or incident.state != "open":
            return 0
        current = await repo.alerts(session, incident_id)
    else:
        current = []
    counts = policy.AlertCounts.of(a.status for a in current)
    if counts.accepted >= incident.needed:
        await repo.update_incident(session, incident_id, next_wave_at=None)
        return 0
    wanted = policy.responders_to_alert(policy.DispatchPolicy.of(settings), incident.needed, counts, wave_due=force)
    if wanted == 0:
        return 0
    found = await repo.nearest_responders(
        session,
        incident=incident,
        radius_m=settings.incident_radius_m,
        fresh_since=now - timedelta(seconds=settings.duty_ttl_s),
        now=now,
        limit=wanted,
    )
    wave = incident.wave + (1 if found else 0)
    if found:
        await repo.insert_alerts(session, incident_id, wave, found, now)
        await _record_steps(
            session,
            settings,
            incident_id,
            [
                IncidentStep(incident_id=incident_id, step="alerted", responder_id=r.person_id, wave=wave, at=now)
                for r in found
            ],
            actor="system",
            now=now,
            also=[_alert_message(incident_id, r.person_id, r.distance_m, now) for r in found],
        )
    await repo.update_incident(
        session, incident_id, wave=wave, next_wave_at=now + timedelta(seconds=settings.wave_interval_s)
    )
    return len(found)


def _clock_time(at: datetime) -> str:
    return at.astimezone(lookup.BEIJING).strftime("%H:%M:%S")


def alert_notification_id(incident_id: uuid.UUID, responder_id: uuid.UUID, *, by_sms: bool = False) -> uuid.UUID:
    """Derived from the incident and the responder: a redelivered cause never sends a second message."""
    return uuid.uuid5(_ALERTS, f"{incident_id}:{responder_id}" + (":sms" if by_sms else ""))


def _alert_message(
    incident_id: uuid.UUID, responder: uuid.UUID, distance_m: float, now: datetime, *, by_sms: bool = False
) -> CloudEvent:
    """The alert reaches the responder's phone (identity delivers it); the app also polls for it. `by_sms`: the
    WeChat message went unseen, so the same alert goes again as a text message."""
    data = IncidentAlertRequested(
        notification_id=alert_notification_id(incident_id, responder, by_sms=by_sms),
        channel="sms" if by_sms else None,
        person_id=responder,
        template="incident_alert",
        requested_at=now,
        page=f"pages/incidents/alert?id={incident_id}",
        data={
            "item": "急救呼叫",
            "time": now.astimezone(lookup.BEIJING).strftime("%Y-%m-%d %H:%M"),
            "status": f"距您约{round(distance_m)}米，请尽快响应",
        },
    )
    return build_event(source="aed", data=data, subject=str(incident_id))


async def respond(
    session: AsyncSession, who: Principal, incident_id: uuid.UUID, *, accept: bool, settings: AedSettings, now: datetime
) -> dict:
    incident = await repo.incident(session, incident_id, lock=True)  # answers of one incident in turn
    if incident is None:
        raise NotFound("事件不存在", "No such incident")
    me = uuid.UUID(who.id)
    mine = _alert_of(await repo.alerts(session, incident_id), me)
    if mine is None:
        raise NotFound("您未收到该事件的呼救", "You were not alerted for this incident")
    if mine.status != "sent" or incident.state != "open":
        raise Conflict("该呼救已结束或已应答", "This alert is no longer open", status=mine.status)
    await repo.mark_seen(session, incident_id, me, now)  # an answer means the alert was read
    if not accept:
        await repo.answer(session, incident_id, me, status="declined", answered_at=now)
        await _step(session, settings, incident_id, "declined", now, actor=who.id, responder_id=me, wave=mine.wave)
        await next_wave(session, incident_id, settings=settings, now=now)  # a decline moves on to the next wave
        return await view_for_responder(session, incident_id, me)
    await repo.answer(session, incident_id, me, status="accepted", answered_at=now)
    await _step(session, settings, incident_id, "accepted", now, actor=who.id, responder_id=me, wave=mine.wave)
    await _assign(session, settings, incident, me, now)
    if sum(1 for a in await repo.alerts(session, incident_id) if a.status == "accepted") >= incident.needed:
        cancelled = await repo.cancel_pending(session, incident_id, now)
        await repo.update_incident(session, incident_id, next_wave_at=None)
        if cancelled:
            await _step(
                session,
                settings,
                incident_id,
                "alerts_cancelled",
                now,
                actor="system",
                detail=f"{len(cancelled)} pending alerts cancelled: enough responders accepted",
            )
    return await view_for_responder(session, incident_id, me)


async def _assign(
    session: AsyncSession, settings: AedSettings, incident: Incident, responder: uuid.UUID, now: datetime
) -> None:
    """Fetch an AED first (the device minimising responder → AED → patient, locked to this responder) while
    fewer than `max_fetchers` are fetching and such a path is short enough; otherwise go to the patient."""
    rules = policy.DispatchPolicy.of(settings)
    fetching = [str(a.aed_id) for a in await repo.alerts(session, incident.id) if a.role == "fetch_aed"]
    position = await repo.duty_of(session, responder)
    if len(fetching) < rules.max_fetchers and position is not None:
        job = policy.assign(
            rules,
            geo.Point(position.lat, position.lon),
            geo.Point(incident.lat, incident.lon),
            fetching=fetching,
            aeds=await _usable_aeds(session, incident, settings, now),
        )
        if job.role == "fetch_aed" and job.aed is not None:
            aed_id = uuid.UUID(job.aed)
            eta = now + timedelta(seconds=policy.Walking.of(settings).seconds(job.path_m or 0, via_aed=True))
            await repo.answer(session, incident.id, responder, role="fetch_aed", aed_id=aed_id, eta_at=eta)
            await _step(
                session,
                settings,
                incident.id,
                "sent_for_aed",
                now,
                actor="system",
                responder_id=responder,
                aed_id=aed_id,
                detail=f"path {round(job.path_m or 0)} m, expected at {_clock_time(eta)}",
            )
            return
    arrival: datetime | None = None
    if position is not None:
        straight = geo.distance_m(geo.Point(position.lat, position.lon), geo.Point(incident.lat, incident.lon))
        arrival = now + timedelta(seconds=policy.Walking.of(settings).seconds(straight))
    await repo.answer(session, incident.id, responder, role="direct", eta_at=arrival)
    await _step(session, settings, incident.id, "sent_to_patient", now, actor="system", responder_id=responder)


async def arrive(
    session: AsyncSession,
    who: Principal,
    incident_id: uuid.UUID,
    *,
    with_aed: bool,
    settings: AedSettings,
    now: datetime,
) -> dict:
    incident = await repo.incident(session, incident_id, lock=True)
    me = uuid.UUID(who.id)
    mine = _alert_of(await repo.alerts(session, incident_id), me) if incident else None
    if mine is None or mine.status != "accepted":
        raise NotFound("您未接受该事件", "You have not accepted this incident")
    await repo.answer(session, incident_id, me, arrived_at=now, arrived_with_aed=with_aed)
    if with_aed and mine.aed_id:  # a device used in an incident needs a restock until inspected
        current = await device_repo.get(session, mine.aed_id, lock=True)
        if current is not None:
            await apply_changes(
                session, who.id, current, {"restock_required": True}, now=now, action="used in incident"
            )
    await _step(
        session,
        settings,
        incident_id,
        "arrived",
        now,
        actor=who.id,
        responder_id=me,
        aed_id=mine.aed_id,
        detail="with AED" if with_aed else "without AED",
    )
    return await view_for_responder(session, incident_id, me)


async def dispatch_update(
    session: AsyncSession,
    who: Principal,
    incident_id: uuid.UUID,
    *,
    status: str,
    note: str | None,
    close: bool,
    settings: AedSettings,
    now: datetime,
) -> dict:
    """120's updates (ambulance dispatched, arrived …) and the close with an outcome (120 or staff)."""
    incident = await repo.incident(session, incident_id, lock=True)
    if incident is None or (who.kind == "staff" and not staff_in_scope(who, incident)):
        raise NotFound("事件不存在", "No such incident")
    if incident.state == "closed":
        raise Conflict("事件已结束", "The incident is closed")
    if close:
        await repo.update_incident(
            session, incident_id, state="closed", outcome=status, closed_at=now, next_wave_at=None
        )
        await repo.cancel_pending(session, incident_id, now)
        await _step(
            session, settings, incident_id, "closed", now, actor=who.id, detail=f"{status}: {note or ''}".strip()
        )
    else:
        await _step(
            session, settings, incident_id, "dispatch_update", now, actor=who.id, detail=f"{status}: {note or ''}"
        )
    return await view(session, who, incident_id)


async def cancel_by_caller(
    session: AsyncSession, who: Principal, incident_id: uuid.UUID, *, reason: str, settings: AedSettings, now: datetime
) -> dict:
    """The caller calls it off (a false alarm, or the person came round): the incident closes, alerts not yet
    answered are cancelled, those on their way see it closed, and 120 is told (a queued step)."""
    incident = await repo.incident(session, incident_id, lock=True)
    if incident is None or incident.reported_by != who.id:
        raise NotFound("事件不存在", "No such incident")
    if incident.state == "closed":
        raise Conflict("事件已结束", "The incident is closed")
    await repo.update_incident(
        session, incident_id, state="closed", outcome="cancelled_by_caller", closed_at=now, next_wave_at=None
    )
    await repo.cancel_pending(session, incident_id, now)
    await _step(session, settings, incident_id, "cancelled_by_caller", now, actor=who.id, detail=reason)
    return await view(session, who, incident_id)


async def withdraw(
    session: AsyncSession, who: Principal, incident_id: uuid.UUID, *, reason: str, settings: AedSettings, now: datetime
) -> dict:
    """A responder who accepted but cannot go on withdraws before arriving. An AED they were to fetch passes to
    another responder on their way to the patient (the one with the shortest path through it), and when fewer
    than needed remain the next nearest are alerted."""
    incident = await repo.incident(session, incident_id, lock=True)
    me = uuid.UUID(who.id)
    mine = _alert_of(await repo.alerts(session, incident_id), me) if incident else None
    if incident is None or mine is None or mine.status != "accepted":
        raise NotFound("您未接受该事件", "You have not accepted this incident")
    if incident.state != "open" or mine.arrived_at is not None:
        raise Conflict("事件已结束或您已到达现场", "The incident is closed or you have arrived")
    freed = mine.aed_id if mine.role == "fetch_aed" else None
    await repo.answer(session, incident_id, me, status="withdrawn", role=None, aed_id=None, answered_at=now)
    await _step(
        session, settings, incident_id, "withdrew", now, actor=who.id, responder_id=me, aed_id=freed, detail=reason
    )
    if freed is not None:
        await _pass_aed(session, settings, incident, freed, now)
    await next_wave(session, incident_id, settings=settings, now=now)
    return await view_for_responder(session, incident_id, me)


async def _pass_aed(
    session: AsyncSession, settings: AedSettings, incident: Incident, aed_id: uuid.UUID, now: datetime
) -> None:
    """Hand a freed AED to the responder going straight to the patient whose path through it is shortest."""
    aed = next((a for a in await _usable_aeds(session, incident, settings, now) if a.key == str(aed_id)), None)
    if aed is None:
        return
    going_direct: dict[str, geo.Point] = {}
    for alert in await repo.alerts(session, incident.id):
        if alert.status != "accepted" or alert.role != "direct" or alert.arrived_at is not None:
            continue
        position = await repo.duty_of(session, alert.responder_id)
        if position is not None:
            going_direct[str(alert.responder_id)] = geo.Point(position.lat, position.lon)
    taker = policy.hand_over(
        policy.DispatchPolicy.of(settings), aed, geo.Point(incident.lat, incident.lon), going_direct
    )
    if taker is not None:
        responder, path = uuid.UUID(taker.responder), taker.path_m
        eta = now + timedelta(seconds=policy.Walking.of(settings).seconds(path, via_aed=True))
        await repo.answer(session, incident.id, responder, role="fetch_aed", aed_id=aed_id, eta_at=eta)
        await _step(
            session,
            settings,
            incident.id,
            "sent_for_aed",
            now,
            actor="system",
            responder_id=responder,
            aed_id=aed_id,
            detail=f"path {round(path)} m, expected at {_clock_time(eta)}; taken over from a responder who withdrew",
        )


async def view_for_responder(session: AsyncSession, incident_id: uuid.UUID, responder: uuid.UUID) -> dict:
    incident = await repo.incident(session, incident_id)
    assert incident is not None  # its callers found it first
    return responder_view(incident, _alert_of(await repo.alerts(session, incident_id), responder))


def _alert_of(alerts: list[Alert], responder: uuid.UUID) -> Alert | None:
    return next((a for a in alerts if a.responder_id == responder), None)


MY_ALERTS, MY_INCIDENTS = "responder-alerts", "reported-incidents"  # the lists' names in their cursors


async def my_alerts(session: AsyncSession, responder: uuid.UUID, page: PageRequest) -> tuple[list[dict], str | None]:
    """A responder's alerts, newest first, each as that responder may see it."""
    rows: list[AlertOfMine]
    rows, cursor = page_of(
        MY_ALERTS, await repo.my_alerts(session, responder, page), page, at="sent_at", id="incident_id"
    )
    return [responder_view(r.incident, r.alert) | {"sent_at": r.sent_at} for r in rows], cursor


async def reported_by(session: AsyncSession, who: Principal, page: PageRequest) -> tuple[list[dict], str | None]:
    """The incidents the caller raised, newest first: theirs to follow (and the address is their own)."""
    return page_of(MY_INCIDENTS, await repo.reported_by(session, who.id, page), page, at="opened_at")


async def alert_delivered(
    session: AsyncSession, *, responder_id: uuid.UUID, notification_id: uuid.UUID, channel: str, at: datetime
) -> None:
    """Identity reports that an alert reached the responder's phone (WeChat or SMS): on the incident, and on the
    board. A report for some other notification of the person changes nothing."""
    for incident_id in await repo.alerted_recently(session, responder_id, at - timedelta(days=1)):
        if notification_id in (
            alert_notification_id(incident_id, responder_id),
            alert_notification_id(incident_id, responder_id, by_sms=True),
        ):
            await repo.incident(session, incident_id, lock=True)  # the lock order: the incident, then its alert
            await repo.record_delivery(session, incident_id, responder_id, channel, at)
            await repo.announce_change(session, incident_id)
            return


async def alert_seen(session: AsyncSession, who: Principal, incident_id: uuid.UUID, *, now: datetime) -> dict:
    """The responder opened the alert in the app (a read receipt): no text message follows it."""
    me = uuid.UUID(who.id)
    await repo.incident(session, incident_id, lock=True)  # the lock order: the incident, then its alert
    if not await repo.mark_seen(session, incident_id, me, now):
        raise NotFound("您未收到该事件的呼救", "You were not alerted for this incident")
    await repo.announce_change(session, incident_id)
    return await view_for_responder(session, incident_id, me)


async def resend_unseen(session: AsyncSession, settings: AedSettings, now: datetime) -> int:
    """Alerts WeChat delivered that nobody opened within `alert_unseen_sms_s` go again by SMS, once: a phone
    in a pocket rings for a text message when a WeChat notice stays silent."""
    unseen = await repo.claim_unseen(session, now - timedelta(seconds=settings.alert_unseen_sms_s), now)
    texts = [_alert_message(a.incident_id, a.responder_id, a.distance_m, now, by_sms=True) for a in unseen]
    await record_events(session, topic=Topic.AED, events=[(text, None) for text in texts])
    for incident_id in {a.incident_id for a in unseen}:
        await repo.announce_change(session, incident_id)
    return len(unseen)


def alert_progress(alert: Alert) -> str:
    """Where an alert stands for the people following the incident: alerted → delivered → seen → accepted (or
    declined), and how it ended."""
    if alert.status == "accepted":
        return "arrived" if alert.arrived_at is not None else "accepted"
    if alert.status != "sent":
        return alert.status
    if alert.seen_at is not None:
        return "seen"
    return "delivered" if alert.delivered_at is not None else "alerted"


def following(alerts: list[Alert]) -> dict[str, Any]:
    """What the people following an incident (the caller, 120, staff, the live board) read off its alerts: each
    one's progress, how many accepted and arrived, and the earliest estimated arrivals of a responder and of
    an AED among those on their way."""
    coming = [a for a in alerts if a.status == "accepted" and a.arrived_at is None and a.eta_at]
    return {
        "alerts": [asdict(a) | {"progress": alert_progress(a)} for a in alerts],
        "accepted": sum(1 for a in alerts if a.status == "accepted"),
        "arrived": sum(1 for a in alerts if a.arrived_at is not None),
        "first_responder_eta_at": min((a.eta_at for a in coming if a.eta_at), default=None),
        "aed_eta_at": min((a.eta_at for a in coming if a.eta_at and a.role == "fetch_aed"), default=None),
    }


def responder_view(incident: Incident, mine: Alert | None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "incident_id": incident.id,
        "state": incident.state,
        "my_status": mine and mine.status,
        "my_role": mine and mine.role,
        "aed_id": mine and mine.aed_id,
        "distance_m": mine and mine.distance_m,
        "approximate_position": {"lat": round(incident.lat, 3), "lon": round(incident.lon, 3)},
    }
    if mine is not None and mine.status == "accepted":  # the exact place only to those who accepted
        view.update(
            position={"lat": incident.lat, "lon": incident.lon},
            address=incident.address,
            note=incident.note,
        )
    return view


def staff_in_scope(who: Principal, incident: Incident) -> bool:
    """City admins see every incident; a district officer those in their district (not those whose district
    nobody reported)."""
    if who.kind != "staff":
        return False
    return who.has_role("city_admin") or (
        who.has_role("district_officer") and who.district is not None and who.district == incident.district
    )


async def view(
    session: AsyncSession,
    who: Principal,
    incident_id: uuid.UUID,
    *,
    reason: str | None = None,
    now: datetime | None = None,
) -> dict:
    """The caller and 120 see everything. Staff in scope see everything but the exact address, which they
    read by giving a reason (put on record for audit). An alerted responder sees their own part."""
    incident = await repo.incident(session, incident_id)
    if incident is None:
        raise NotFound("事件不存在", "No such incident")
    alerts = await repo.alerts(session, incident_id)
    whole = asdict(incident) | following(alerts)
    if who.id == incident.reported_by or (who.kind == "partner" and "emergency-120" in who.scopes):
        return whole
    if staff_in_scope(who, incident):
        if reason is None:
            return {k: v for k, v in whole.items() if k != "address"}
        await record_event(
            session,
            topic=Topic.AED,
            event=build_event(
                source="aed",
                data=IncidentAddressAccessed(
                    incident_id=incident_id,
                    accessed_by=who.id,
                    accessor_roles=sorted(who.roles),
                    reason=reason,
                    accessed_at=now or clock.now(),
                ),
                subject=str(incident_id),
                actor=who.id,
            ),
        )
        return whole
    if who.kind == "person":
        mine = next((a for a in alerts if str(a.responder_id) == who.id), None)
        if mine is not None:
            return responder_view(incident, mine)
    raise NotFound("事件不存在", "No such incident")


async def data_of(session: AsyncSession, person: Principal) -> dict:
    """A person's copy of what svc-aed holds: the SOS calls they raised, the alerts they received as they saw
    them, and the position they last reported while on duty (none is kept off duty)."""
    person_id = uuid.UUID(person.id)
    duty = await repo.duty_of(session, person_id)
    return {
        "incidents_raised": await all_pages(MY_INCIDENTS, lambda page: reported_by(session, person, page)),
        "alerts_received": await all_pages(MY_ALERTS, lambda page: my_alerts(session, person_id, page)),
        "on_duty": {"position": {"lat": duty.lat, "lon": duty.lon}, "reported_at": duty.updated_at} if duty else None,
    }
