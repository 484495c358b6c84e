"""Queries behind volunteers' records, 志愿北京's feed and district statistics. A record audit confirmed
false (`false_record_sanction`) no longer counts anywhere."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


async def volunteer_totals(session: AsyncSession, volunteer_id: uuid.UUID) -> dict:
    row = (
        (
            await session.execute(
                text("""
        SELECT count(*) FILTER (WHERE b.status = 'checked_out' AND r.state = 'completed'
                                AND r.false_record_sanction IS NULL) AS services,
               coalesce(sum(b.minutes) FILTER (WHERE b.status = 'checked_out' AND r.state = 'completed'
                                               AND r.false_record_sanction IS NULL), 0) AS minutes,
               avg(rt.score) FILTER (WHERE b.status = 'checked_out' AND r.false_record_sanction IS NULL) AS average_rating,
               count(rt.score) FILTER (WHERE b.status = 'checked_out' AND r.false_record_sanction IS NULL) AS ratings,
               count(*) FILTER (WHERE b.status = 'no_show') AS no_shows,
               count(*) FILTER (WHERE b.late_cancellation AND b.cancelled_by = :vt) AS late_cancellations,
               count(*) FILTER (WHERE r.false_record_sanction IS NOT NULL) AS revoked
        FROM bookings b JOIN requests r ON r.id = b.request_id LEFT JOIN ratings rt ON rt.request_id = r.id
        WHERE b.volunteer_id = :v"""),
                {"v": volunteer_id, "vt": str(volunteer_id)},
            )
        )
        .mappings()
        .one()
    )
    return dict(row)


async def mark_false(session: AsyncSession, request_ids: list[uuid.UUID], sanction_id: uuid.UUID) -> None:
    await session.execute(
        text("UPDATE requests SET false_record_sanction = :s WHERE id = ANY(:r) AND false_record_sanction IS NULL"),
        {"s": sanction_id, "r": request_ids},
    )


async def completed_since(session: AsyncSession, *, after: tuple[datetime, uuid.UUID] | None, limit: int) -> list[dict]:
    """Completed services in completion order after the (completed_at, id) cursor, with their participants."""
    rows = (
        (
            await session.execute(
                text("""
        SELECT r.id, r.district, r.category, r.item_id, c.name AS item_name, r.starts_at, r.ends_at, r.completed_at,
               r.false_record_sanction IS NOT NULL AS revoked,
               coalesce(json_agg(json_build_object('volunteer_id', b.volunteer_id, 'minutes', b.minutes)
                                 ORDER BY b.volunteer_id) FILTER (WHERE b.status = 'checked_out'), '[]') AS participants
        FROM requests r JOIN catalogue_items c ON c.id = r.item_id LEFT JOIN bookings b ON b.request_id = r.id
        WHERE r.state = 'completed'
          AND (CAST(:at AS timestamptz) IS NULL OR (r.completed_at, r.id) > (CAST(:at AS timestamptz), CAST(:id AS uuid)))
        GROUP BY r.id, c.name ORDER BY r.completed_at, r.id LIMIT :limit"""),
                {"at": after[0] if after else None, "id": after[1] if after else None, "limit": limit},
            )
        )
        .mappings()
        .all()
    )
    return [dict(r) for r in rows]


async def statistics(
    session: AsyncSession, *, district: str | None, since: datetime, until: datetime, now: datetime
) -> dict:
    params = {"d": district, "since": since, "until": until, "now": now}
    scope = "(CAST(:d AS text) IS NULL OR r.district = :d) AND r.created_at >= :since AND r.created_at < :until"
    by_state = (
        (
            await session.execute(
                text(
                    f"SELECT r.district, r.category, r.state, count(*) AS requests FROM requests r WHERE {scope}"
                    " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
                ),
                params,
            )
        )
        .mappings()
        .all()
    )
    served = (
        (
            await session.execute(
                text(f"""
        SELECT coalesce(sum(b.minutes), 0) AS minutes_served, count(DISTINCT r.id) AS services,
               count(DISTINCT b.volunteer_id) AS volunteers
        FROM requests r JOIN bookings b ON b.request_id = r.id
        WHERE {scope} AND r.state = 'completed' AND b.status = 'checked_out' AND r.false_record_sanction IS NULL"""),
                params,
            )
        )
        .mappings()
        .one()
    )
    rated = (
        (
            await session.execute(
                text(f"""
        SELECT avg(rt.score) AS average_rating, count(*) AS ratings, count(*) FILTER (WHERE rt.flagged) AS flagged
        FROM requests r JOIN ratings rt ON rt.request_id = r.id WHERE {scope}"""),
                params,
            )
        )
        .mappings()
        .one()
    )
    unbooked = (
        (
            await session.execute(
                text(f"""
        SELECT count(*) FILTER (WHERE r.state = 'closed' AND r.close_reason = 'expired') AS expired_unserved,
               count(*) FILTER (WHERE r.state = 'open' AND r.starts_at <= :now) AS open_past_start
        FROM requests r WHERE {scope} AND NOT EXISTS (
            SELECT 1 FROM bookings b WHERE b.request_id = r.id AND b.status IN ('booked', 'checked_in', 'checked_out'))"""),
                params,
            )
        )
        .mappings()
        .one()
    )
    return {"by_category_and_state": [dict(r) for r in by_state], **dict(served), **dict(rated), **dict(unbooked)}
