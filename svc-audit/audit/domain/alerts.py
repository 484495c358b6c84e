"""Alerts (预警提示), the watchlist (跟踪) and decisions.

One alert per rule and pattern key; a repeat adds its evidence to the same alert (sorted sets, highest
severity, earliest and latest times) instead of raising another. An alert's severity rises one step once
it holds `escalate_after` pieces of evidence. High-severity alerts put their people and institution on
the watchlist with the reason. An auditor confirms or dismisses, with a note; a confirmation publishes
`audit.sanction.applied` naming the false service records, and every decision names who made it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from audit.db import alerts as repo
from audit.domain.rules import HIGH, Finding
from contracts.audit import SanctionApplied
from contracts.topics import Topic
from servicekit.auth import Principal
from servicekit.errors import Conflict, Forbidden, NotFound, UnprocessableInput
from servicekit.events import build_event, record_event
from servicekit.ids import new_id
from servicekit.pagination import PageRequest, page_of

_NAMESPACE = uuid.UUID("a7d4f3c2-1b0e-4c9d-8e7f-6a5b4c3d2e1f")
SEVERITY = {1: "low", 2: "medium", 3: "high"}
GIFT_RULES = ("frequent_gifting", "gift_chain")


def alert_id(rule: str, key: str) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, f"{rule}:{key}")


def merge(findings: list[Finding]) -> list[Finding]:
    """One finding per alert: the union of what a batch found (the same merge the upsert does with the
    stored alert)."""
    merged: dict[tuple[str, str], Finding] = {}
    for f in findings:
        seen = merged.get((f.rule, f.key))
        if seen is None:
            merged[(f.rule, f.key)] = f
            continue
        merged[(f.rule, f.key)] = Finding(
            rule=f.rule,
            key=f.key,
            severity=max(seen.severity, f.severity),
            district=min((d for d in (seen.district, f.district) if d), default=None),
            people=tuple(sorted(set(seen.people) | set(f.people))),
            institution_id=min((i for i in (seen.institution_id, f.institution_id) if i), default=None),
            evidence=tuple(sorted(set(seen.evidence) | set(f.evidence))),
            request_ids=tuple(sorted(set(seen.request_ids) | set(f.request_ids))),
            first_at=min(seen.first_at, f.first_at),
            last_at=max(seen.last_at, f.last_at),
            summary=seen.summary,
        )
    return sorted(merged.values(), key=lambda f: (f.rule, f.key))  # a fixed order: no deadlock between replicas


async def raise_findings(session: AsyncSession, findings: list[Finding], *, escalate_after: int) -> None:
    """Upsert the batch's alerts in one statement, raise severities, and track high-severity subjects."""
    merged = merge(findings)
    if not merged:
        return
    ids = [alert_id(f.rule, f.key) for f in merged]
    joined = lambda values: ",".join(str(v) for v in values) or None  # noqa: E731  (uuid[] rows through text[])
    await repo.upsert(
        session,
        {
            "id": ids,
            "rule": [f.rule for f in merged],
            "key": [f.key for f in merged],
            "severity": [f.severity for f in merged],
            "district": [f.district for f in merged],
            "people": [joined(f.people) for f in merged],
            "institution": [f.institution_id for f in merged],
            "evidence": [joined(f.evidence) for f in merged],
            "requests": [joined(f.request_ids) for f in merged],
            "first_at": [f.first_at for f in merged],
            "last_at": [f.last_at for f in merged],
            "summary": [f.summary for f in merged],
        },
        escalate_after=escalate_after,
        high=HIGH,
    )


async def residences_known(session: AsyncSession, people: list[tuple[uuid.UUID, str]]) -> None:
    """Gift alerts are scoped by the least district of their people, which may be learnt after the gifts."""
    await repo.rescope_by_residence(session, people, list(GIFT_RULES))


@dataclass(frozen=True)
class AlertView:
    id: uuid.UUID
    rule: str
    severity: str
    status: str
    district: str | None
    people: list[uuid.UUID]
    institution_id: uuid.UUID | None
    evidence: list[uuid.UUID]
    request_ids: list[uuid.UUID]
    first_at: datetime
    last_at: datetime
    summary: str
    decision: dict | None = None


def _view(row, decision: dict | None = None) -> AlertView:
    values = list(row)  # every field but the decision, in order
    values[2] = SEVERITY[values[2]]
    view = AlertView(*values)
    return replace(view, decision=decision) if decision is not None else view


def reader_district(reader: Principal, district: str | None) -> str | None:
    """Auditors and city admins see every district (or the one asked for); officers their own only."""
    if reader.has_role("auditor", "city_admin"):
        return district
    if not reader.has_role("district_officer") or reader.district is None:
        raise Forbidden("无权查看预警", "Auditors and district officers only")
    if district is not None and district != reader.district:
        raise Forbidden("只能查看本区的预警", "Only your own district's alerts")
    return reader.district


ALERTS = "alerts"  # the list's name in its cursors


async def list_alerts(
    session: AsyncSession,
    reader: Principal,
    page: PageRequest,
    *,
    status: str | None,
    rule: str | None,
    district: str | None,
) -> tuple[list[AlertView], str | None]:
    scope = reader_district(reader, district)
    only_own = not reader.has_role("auditor", "city_admin")
    rows = await repo.listed(session, page, status=status, rule=rule, district=scope, districted_only=only_own)
    shown, cursor = page_of(ALERTS, rows, page, at="last_at", rank="severity")
    return [_view(row) for row in shown], cursor


async def decide(
    session: AsyncSession,
    auditor: Principal,
    alert: uuid.UUID,
    *,
    confirm: bool,
    note: str,
    person_ids: list[uuid.UUID] | None,
    institution: bool,
    now: datetime,
) -> tuple[AlertView, list[uuid.UUID]]:
    row = await repo.get(session, alert, lock=True)
    if row is None:
        raise NotFound("预警不存在", "No such alert")
    view = _view(row)
    if view.status != "open":
        raise Conflict("该预警已有处理决定", "The alert has been decided already")
    sanctions: list[uuid.UUID] = []
    if confirm:
        targets = view.people if person_ids is None else person_ids
        if not set(targets) <= set(view.people):
            raise UnprocessableInput("只能处理预警涉及的人员", "Sanctions name people involved in the alert")
        for person in targets:
            sanctions.append(await _sanction(session, view, auditor, note, now, person_id=person))
        if institution:
            if view.institution_id is None:
                raise UnprocessableInput("该预警不涉及服务机构", "No institution is involved in this alert")
            sanctions.append(await _sanction(session, view, auditor, note, now, institution_id=view.institution_id))
    status = "confirmed" if confirm else "dismissed"
    await repo.record_decision(
        session,
        alert,
        status=status,
        decision="confirm" if confirm else "dismiss",
        note=note,
        decided_by=auditor.id,
        at=now,
        sanction_ids=sanctions,
    )
    return await get(session, alert), sanctions


async def _sanction(
    session: AsyncSession,
    alert: AlertView,
    auditor: Principal,
    note: str,
    now: datetime,
    *,
    person_id: uuid.UUID | None = None,
    institution_id: uuid.UUID | None = None,
) -> uuid.UUID:
    sanction_id = new_id()
    data = SanctionApplied(
        sanction_id=sanction_id,
        alert_id=alert.id,
        kind="institution_listed" if institution_id else "volunteer_recording_revoked",
        person_id=person_id,
        institution_id=institution_id,
        false_request_ids=alert.request_ids,
        decided_by=auditor.id,
        note=note,
        decided_at=now,
    )
    await record_event(
        session,
        topic=Topic.AUDIT,
        event=build_event(source="audit", data=data, subject=str(person_id or institution_id), actor=auditor.id),
    )
    return sanction_id


async def get(session: AsyncSession, alert: uuid.UUID) -> AlertView:
    row = await repo.get(session, alert)
    if row is None:
        raise NotFound("预警不存在", "No such alert")
    return _view(row, await repo.decision_of(session, alert))


WATCHLIST = "watchlist"  # the list's name in its cursors


async def watchlist(session: AsyncSession, page: PageRequest) -> tuple[list[dict], str | None]:
    return page_of(WATCHLIST, await repo.watchlist(session, page), page, at="since", id="subject_id")
