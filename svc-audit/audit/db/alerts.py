"""Queries on alerts, the watchlist and decisions."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.ids import new_id
from servicekit.pagination import PageRequest, keyset_text

_MERGED_EVIDENCE = "ARRAY(SELECT DISTINCT e FROM unnest(alerts.evidence || excluded.evidence) e ORDER BY e)"

# One statement merges the alerts, escalates them and watches their subjects. Escalation: an alert holding at
# least :n pieces of evidence is raised one step above its finding's severity (at most 3). The proposed row is
# escalated already when its own evidence reaches :n (so `excluded.severity` is the finding's severity plus
# one exactly then); else it is the finding's and the merged evidence decides.
_UPSERT = text(f"""
WITH merged AS (
INSERT INTO alerts (id, rule, key, severity, district, people, institution_id, evidence, request_ids, first_at, last_at,
                    summary)
SELECT id, rule, key,
       CASE WHEN cardinality(string_to_array(evidence, ',')) >= :n THEN LEAST(3, severity + 1) ELSE severity END,
       district, string_to_array(people, ',')::uuid[], institution_id,
       string_to_array(evidence, ',')::uuid[], coalesce(string_to_array(requests, ',')::uuid[], '{{}}'), first_at, last_at,
       summary
FROM unnest(CAST(:id AS uuid[]), CAST(:rule AS text[]), CAST(:key AS text[]), CAST(:severity AS smallint[]),
            CAST(:district AS text[]), CAST(:people AS text[]), CAST(:institution AS uuid[]), CAST(:evidence AS text[]),
            CAST(:requests AS text[]), CAST(:first_at AS timestamptz[]), CAST(:last_at AS timestamptz[]),
            CAST(:summary AS text[]))
     AS f(id, rule, key, severity, district, people, institution_id, evidence, requests, first_at, last_at, summary)
ON CONFLICT (rule, key) DO UPDATE SET
    severity = GREATEST(alerts.severity, CASE
        WHEN cardinality(excluded.evidence) < :n AND cardinality({_MERGED_EVIDENCE}) >= :n
        THEN LEAST(3, excluded.severity + 1) ELSE excluded.severity END),
    district = LEAST(alerts.district, excluded.district),
    people = ARRAY(SELECT DISTINCT p FROM unnest(alerts.people || excluded.people) p ORDER BY p),
    institution_id = LEAST(alerts.institution_id, excluded.institution_id),
    evidence = {_MERGED_EVIDENCE},
    request_ids = ARRAY(SELECT DISTINCT r FROM unnest(alerts.request_ids || excluded.request_ids) r ORDER BY r),
    first_at = LEAST(alerts.first_at, excluded.first_at),
    last_at = GREATEST(alerts.last_at, excluded.last_at),
    updated_at = now()
RETURNING id, severity, district, people, institution_id, summary, first_at)
-- High-severity subjects are tracked (跟踪), with the reason; `since` is the pattern's first event time.
INSERT INTO watchlist (subject_kind, subject_id, alert_id, reason, district, since)
SELECT 'person', p, a.id, a.summary, a.district, a.first_at FROM merged a, unnest(a.people) p WHERE a.severity >= :high
UNION ALL
SELECT 'institution', a.institution_id, a.id, a.summary, a.district, a.first_at FROM merged a
WHERE a.severity >= :high AND a.institution_id IS NOT NULL
ON CONFLICT DO NOTHING
""")

ALERT_COLUMNS = (
    "a.id, a.rule, a.severity, a.status, a.district, a.people, a.institution_id, a.evidence, a.request_ids,"
    " a.first_at, a.last_at, a.summary"
)


async def upsert(session: AsyncSession, rows: dict[str, list], *, escalate_after: int, high: int) -> None:
    """Alerts (columns as parallel lists) merged into the stored ones, severities raised once an alert holds
    `escalate_after` pieces of evidence, and high-severity subjects put on the watchlist: one statement."""
    await session.execute(_UPSERT, {**rows, "n": escalate_after, "high": high})


async def rescope_by_residence(session: AsyncSession, people: list[tuple[uuid.UUID, str]], rules: list[str]) -> None:
    """Alerts of `rules` take the least district of their people, as residences become known."""
    await session.execute(
        text("""
        UPDATE alerts a SET district = LEAST(coalesce(a.district, m.d), m.d)
        FROM (SELECT x.id, min(r.d) AS d FROM alerts x
              JOIN unnest(CAST(:p AS uuid[]), CAST(:d AS text[])) r(p, d) ON r.p = ANY(x.people)
              WHERE x.rule = ANY(:rules) GROUP BY x.id) m
        WHERE a.id = m.id"""),
        {"p": [p for p, _ in people], "d": [d for _, d in people], "rules": rules},
    )


async def listed(
    session: AsyncSession,
    page: PageRequest,
    *,
    status: str | None,
    rule: str | None,
    district: str | None,
    districted_only: bool,
) -> list:
    """One page of alerts, most severe first, then the latest (severity, last_at, id, all descending)."""
    after = page.after
    return list(
        (
            await session.execute(
                text(
                    f"SELECT {ALERT_COLUMNS} FROM alerts a WHERE (CAST(:s AS text) IS NULL OR a.status = :s)"
                    " AND (CAST(:r AS text) IS NULL OR a.rule = :r) AND (CAST(:d AS text) IS NULL OR a.district = :d)"
                    " AND (NOT :own OR a.district IS NOT NULL)"
                    " AND (CAST(:rank AS int) IS NULL OR (a.severity, a.last_at, a.id) < (:rank, :at, CAST(:after_id AS uuid)))"
                    " ORDER BY a.severity DESC, a.last_at DESC, a.id DESC LIMIT :n"
                ),
                {
                    "s": status,
                    "r": rule,
                    "d": district,
                    "own": districted_only,
                    "n": page.fetch,
                    "rank": after.rank if after else None,
                    "at": after.at if after else None,
                    "after_id": after.id if after else None,
                },
            )
        ).all()
    )


async def get(session: AsyncSession, alert_id: uuid.UUID, *, lock: bool = False):
    return (
        await session.execute(
            text(f"SELECT {ALERT_COLUMNS} FROM alerts a WHERE a.id = :id" + (" FOR UPDATE" if lock else "")),
            {"id": alert_id},
        )
    ).first()


async def decision_of(session: AsyncSession, alert_id: uuid.UUID) -> dict | None:
    row = (
        (
            await session.execute(
                text("SELECT decision, note, decided_by, decided_at, sanction_ids FROM decisions WHERE alert_id = :id"),
                {"id": alert_id},
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


async def record_decision(
    session: AsyncSession,
    alert_id: uuid.UUID,
    *,
    status: str,
    decision: str,
    note: str,
    decided_by: str,
    at: datetime,
    sanction_ids: list[uuid.UUID],
) -> None:
    await session.execute(
        text("UPDATE alerts SET status = :s, updated_at = now() WHERE id = :id"), {"s": status, "id": alert_id}
    )
    await session.execute(
        text(
            "INSERT INTO decisions (id, alert_id, decision, note, decided_by, decided_at, sanction_ids)"
            " VALUES (:id, :a, :d, :n, :by, :at, CAST(:s AS uuid[]))"
        ),
        {"id": new_id(), "a": alert_id, "d": decision, "n": note, "by": decided_by, "at": at, "s": sanction_ids},
    )


async def watchlist(session: AsyncSession, page: PageRequest) -> list[dict]:
    """One page of the people and institutions under tracking, one entry each with every alert that put them
    there, the latest first (since, subject_id)."""
    after, params = keyset_text(page, "since", "subject_id")
    rows = (
        (
            await session.execute(
                text(
                    "SELECT * FROM (SELECT w.subject_kind, w.subject_id, max(w.district) AS district, max(w.since) AS since,"
                    "  jsonb_agg(jsonb_build_object('alert_id', w.alert_id, 'rule', a.rule, 'status', a.status,"
                    "                               'reason', w.reason, 'since', w.since) ORDER BY w.since DESC) AS alerts"
                    "  FROM watchlist w JOIN alerts a ON a.id = w.alert_id GROUP BY w.subject_kind, w.subject_id) watched"
                    f" WHERE {after} ORDER BY since DESC, subject_id DESC LIMIT :fetch"
                ),
                params,
            )
        )
        .mappings()
        .all()
    )
    return [dict(r) for r in rows]
