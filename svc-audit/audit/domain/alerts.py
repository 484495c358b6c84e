"""Alerts (预警提示), the watchlist (跟踪) and decisions.

One alert per rule and pattern key; a repeat adds its evidence to the same alert (sorted sets, highest
severity, earliest and latest times) instead of raising another. An alert's severity rises one step once
it holds `escalate_after` pieces of evidence. High-severity alerts put their people and institution on
the watchlist with the reason. An auditor confirms or dismisses, with a note; a confirmation publishes
`audit.sanction.applied` naming the false service records, and every decision names who made it.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.audit import SanctionApplied
from contracts.topics import Topic
from servicekit.auth import Principal
from servicekit.errors import Conflict, Forbidden, NotFound, UnprocessableInput
from servicekit.events import build_event, record_event
from audit.domain.rules import HIGH, Finding

_NAMESPACE = uuid.UUID("a7d4f3c2-1b0e-4c9d-8e7f-6a5b4c3d2e1f")
SEVERITY = {1: "low", 2: "medium", 3: "high"}
GIFT_RULES = ("frequent_gifting", "gift_chain")


def alert_id(rule: str, key: str) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, f"{rule}:{key}")


_UPSERT = text("""
INSERT INTO alerts (id, rule, key, severity, district, people, institution_id, evidence, request_ids, first_at, last_at,
                    summary)
SELECT id, rule, key, severity, district, string_to_array(people, ',')::uuid[], institution_id,
       string_to_array(evidence, ',')::uuid[], coalesce(string_to_array(requests, ',')::uuid[], '{}'), first_at, last_at,
       summary
FROM unnest(CAST(:id AS uuid[]), CAST(:rule AS text[]), CAST(:key AS text[]), CAST(:severity AS smallint[]),
            CAST(:district AS text[]), CAST(:people AS text[]), CAST(:institution AS uuid[]), CAST(:evidence AS text[]),
            CAST(:requests AS text[]), CAST(:first_at AS timestamptz[]), CAST(:last_at AS timestamptz[]),
            CAST(:summary AS text[]))
     AS f(id, rule, key, severity, district, people, institution_id, evidence, requests, first_at, last_at, summary)
ON CONFLICT (rule, key) DO UPDATE SET
    severity = GREATEST(alerts.severity, excluded.severity),
    district = LEAST(alerts.district, excluded.district),
    people = ARRAY(SELECT DISTINCT p FROM unnest(alerts.people || excluded.people) p ORDER BY p),
    institution_id = LEAST(alerts.institution_id, excluded.institution_id),
    evidence = ARRAY(SELECT DISTINCT e FROM unnest(alerts.evidence || excluded.evidence) e ORDER BY e),
    request_ids = ARRAY(SELECT DISTINCT r FROM unnest(alerts.request_ids || excluded.request_ids) r ORDER BY r),
    first_at = LEAST(alerts.first_at, excluded.first_at),
    last_at = GREATEST(alerts.last_at, excluded.last_at),
    updated_at = now()
""")
_ESCALATE = text("""
UPDATE alerts a SET severity = LEAST(3, f.base + 1) FROM unnest(CAST(:id AS uuid[]), CAST(:base AS smallint[])) f(id, base)
WHERE a.id = f.id AND cardinality(a.evidence) >= :n AND a.severity < LEAST(3, f.base + 1)
""")


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
            rule=f.rule, key=f.key, severity=max(seen.severity, f.severity),
            district=min((d for d in (seen.district, f.district) if d), default=None),
            people=tuple(sorted(set(seen.people) | set(f.people))),
            institution_id=min((i for i in (seen.institution_id, f.institution_id) if i), default=None),
            evidence=tuple(sorted(set(seen.evidence) | set(f.evidence))),
            request_ids=tuple(sorted(set(seen.request_ids) | set(f.request_ids))),
            first_at=min(seen.first_at, f.first_at), last_at=max(seen.last_at, f.last_at), summary=seen.summary)
    return sorted(merged.values(), key=lambda f: (f.rule, f.key))  # a fixed order: no deadlock between replicas


async def raise_findings(session: AsyncSession, findings: list[Finding], *, escalate_after: int) -> None:
    """Upsert the batch's alerts in one statement, raise severities, and track high-severity subjects."""
    merged = merge(findings)
    if not merged:
        return
    ids = [alert_id(f.rule, f.key) for f in merged]
    joined = lambda values: ",".join(str(v) for v in values) or None  # noqa: E731  (uuid[] rows through text[])
    await session.execute(_UPSERT, {
        "id": ids, "rule": [f.rule for f in merged], "key": [f.key for f in merged],
        "severity": [f.severity for f in merged], "district": [f.district for f in merged],
        "people": [joined(f.people) for f in merged], "institution": [f.institution_id for f in merged],
        "evidence": [joined(f.evidence) for f in merged], "requests": [joined(f.request_ids) for f in merged],
        "first_at": [f.first_at for f in merged], "last_at": [f.last_at for f in merged],
        "summary": [f.summary for f in merged]})
    await session.execute(_ESCALATE, {"id": ids, "base": [f.severity for f in merged], "n": escalate_after})
    await session.execute(_WATCH, {"ids": ids, "high": HIGH})


# High-severity subjects are tracked (跟踪), with the reason; `since` is the pattern's first event time.
_WATCH = text("""
INSERT INTO watchlist (subject_kind, subject_id, alert_id, reason, district, since)
SELECT 'person', p, a.id, a.summary, a.district, a.first_at FROM alerts a, unnest(a.people) p
WHERE a.id = ANY(:ids) AND a.severity >= :high
UNION ALL
SELECT 'institution', a.institution_id, a.id, a.summary, a.district, a.first_at FROM alerts a
WHERE a.id = ANY(:ids) AND a.severity >= :high AND a.institution_id IS NOT NULL
ON CONFLICT DO NOTHING
""")


async def residences_known(session: AsyncSession, people: list[tuple[uuid.UUID, str]]) -> None:
    """Gift alerts are scoped by the least district of their people, which may be learnt after the gifts."""
    await session.execute(text("""
        UPDATE alerts a SET district = LEAST(coalesce(a.district, m.d), m.d)
        FROM (SELECT x.id, min(r.d) AS d FROM alerts x
              JOIN unnest(CAST(:p AS uuid[]), CAST(:d AS text[])) r(p, d) ON r.p = ANY(x.people)
              WHERE x.rule = ANY(:rules) GROUP BY x.id) m
        WHERE a.id = m.id"""), {"p": [p for p, _ in people], "d": [d for _, d in people], "rules": list(GIFT_RULES)})


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


_ALERT_COLUMNS = ("a.id, a.rule, a.severity, a.status, a.district, a.people, a.institution_id, a.evidence, a.request_ids,"
                  " a.first_at, a.last_at, a.summary")


def _view(row, decision: dict | None = None) -> AlertView:
    values = list(row)
    values[2] = SEVERITY[values[2]]
    return AlertView(*values, decision=decision)


def reader_district(reader: Principal, district: str | None) -> str | None:
    """Auditors and city admins see every district (or the one asked for); officers their own only."""
    if reader.has_role("auditor", "city_admin"):
        return district
    if not reader.has_role("district_officer") or reader.district is None:
        raise Forbidden("无权查看预警", "Auditors and district officers only")
    if district is not None and district != reader.district:
        raise Forbidden("只能查看本区的预警", "Only your own district's alerts")
    return reader.district


async def list_alerts(session: AsyncSession, reader: Principal, *, status: str | None, rule: str | None,
                      district: str | None, limit: int) -> list[AlertView]:
    scope = reader_district(reader, district)
    only_own = not reader.has_role("auditor", "city_admin")
    rows = (await session.execute(text(
        f"SELECT {_ALERT_COLUMNS} FROM alerts a WHERE (CAST(:s AS text) IS NULL OR a.status = :s)"
        " AND (CAST(:r AS text) IS NULL OR a.rule = :r) AND (CAST(:d AS text) IS NULL OR a.district = :d)"
        " AND (NOT :own OR a.district IS NOT NULL)"
        " ORDER BY a.severity DESC, a.last_at DESC, a.id LIMIT :l"),
        {"s": status, "r": rule, "d": scope, "own": only_own, "l": limit})).all()
    return [_view(row) for row in rows]


async def decide(session: AsyncSession, auditor: Principal, alert: uuid.UUID, *, confirm: bool, note: str,
                 person_ids: list[uuid.UUID] | None, institution: bool, now: datetime) -> tuple[AlertView, list[uuid.UUID]]:
    row = (await session.execute(text(f"SELECT {_ALERT_COLUMNS} FROM alerts a WHERE a.id = :id FOR UPDATE"),
                                 {"id": alert})).first()
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
    await session.execute(text("UPDATE alerts SET status = :s, updated_at = now() WHERE id = :id"), {"s": status, "id": alert})
    await session.execute(text(
        "INSERT INTO decisions (id, alert_id, decision, note, decided_by, decided_at, sanction_ids)"
        " VALUES (:id, :a, :d, :n, :by, :at, CAST(:s AS uuid[]))"),
        {"id": uuid.uuid4(), "a": alert, "d": "confirm" if confirm else "dismiss", "n": note, "by": auditor.id,
         "at": now, "s": sanctions})
    return await get(session, alert), sanctions


async def _sanction(session: AsyncSession, alert: AlertView, auditor: Principal, note: str, now: datetime, *,
                    person_id: uuid.UUID | None = None, institution_id: uuid.UUID | None = None) -> uuid.UUID:
    sanction_id = uuid.uuid4()
    data = SanctionApplied(
        sanction_id=sanction_id, alert_id=alert.id,
        kind="institution_listed" if institution_id else "volunteer_recording_revoked",
        person_id=person_id, institution_id=institution_id, false_request_ids=alert.request_ids,
        decided_by=auditor.id, note=note, decided_at=now)
    await record_event(session, topic=Topic.AUDIT, event=build_event(
        source="audit", data=data, subject=str(person_id or institution_id), actor=auditor.id))
    return sanction_id


async def get(session: AsyncSession, alert: uuid.UUID) -> AlertView:
    row = (await session.execute(text(f"SELECT {_ALERT_COLUMNS} FROM alerts a WHERE a.id = :id"), {"id": alert})).first()
    if row is None:
        raise NotFound("预警不存在", "No such alert")
    decision = (await session.execute(text(
        "SELECT decision, note, decided_by, decided_at, sanction_ids FROM decisions WHERE alert_id = :id"),
        {"id": alert})).mappings().first()
    return _view(row, dict(decision) if decision else None)


async def watchlist(session: AsyncSession, *, limit: int) -> list[dict]:
    rows = (await session.execute(text(
        "SELECT w.subject_kind, w.subject_id, w.reason, w.district, w.since, w.alert_id, a.rule, a.status"
        " FROM watchlist w JOIN alerts a ON a.id = w.alert_id ORDER BY w.since DESC, w.subject_id LIMIT :l"),
        {"l": limit})).mappings().all()
    return [dict(r) for r in rows]
