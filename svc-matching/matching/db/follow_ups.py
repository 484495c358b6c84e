"""Queries on follow-ups (回访)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.pagination import PageRequest, keyset_text


@dataclass
class FollowUp:
    id: uuid.UUID
    request_id: uuid.UUID
    elder_id: uuid.UUID
    district: str
    cause: str
    detail: str
    state: str
    opened_at: datetime
    assigned_to: str | None
    assigned_by: str | None
    assigned_at: datetime | None
    closed_by: str | None
    closed_at: datetime | None
    outcome: str | None


_COLUMNS = ", ".join(f.name for f in fields(FollowUp))


async def open_once(
    session: AsyncSession,
    *,
    follow_up_id: uuid.UUID,
    request_id: uuid.UUID,
    elder_id: uuid.UUID,
    district: str,
    cause: str,
    source: str,
    detail: str,
    now: datetime,
) -> bool:
    """False when `source` (a rating, a cancelled booking) already opened one."""
    inserted = await session.execute(
        text(
            "INSERT INTO follow_ups (id, request_id, elder_id, district, cause, source, detail, opened_at)"
            " VALUES (:id, :r, :e, :d, :c, :s, :detail, :now) ON CONFLICT (source) DO NOTHING RETURNING id"
        ),
        {
            "id": follow_up_id,
            "r": request_id,
            "e": elder_id,
            "d": district,
            "c": cause,
            "s": source,
            "detail": detail,
            "now": now,
        },
    )
    return inserted.first() is not None


async def get(session: AsyncSession, follow_up_id: uuid.UUID, *, lock: bool = False) -> FollowUp | None:
    row = (
        await session.execute(
            text(f"SELECT {_COLUMNS} FROM follow_ups WHERE id = :id{' FOR UPDATE' if lock else ''}"),
            {"id": follow_up_id},
        )
    ).first()
    return FollowUp(*row) if row else None


async def save(session: AsyncSession, follow_up: FollowUp) -> None:
    await session.execute(
        text(
            "UPDATE follow_ups SET state = :state, assigned_to = :assigned_to, assigned_by = :assigned_by,"
            " assigned_at = :assigned_at, closed_by = :closed_by, closed_at = :closed_at, outcome = :outcome WHERE id = :id"
        ),
        vars(follow_up),
    )


async def page(
    session: AsyncSession, page: PageRequest, *, district: str | None, state: str | None, assigned_to: str | None
) -> list[FollowUp]:
    """One page of a district's (every district's: None) follow-ups, newest first (opened_at, id)."""
    after, params = keyset_text(page, "opened_at", "id")
    rows = (
        await session.execute(
            text(
                f"SELECT {_COLUMNS} FROM follow_ups WHERE (CAST(:d AS text) IS NULL OR district = :d)"
                " AND (CAST(:s AS text) IS NULL OR state = :s) AND (CAST(:a AS text) IS NULL OR assigned_to = :a)"
                f" AND {after} ORDER BY opened_at DESC, id DESC LIMIT :fetch"
            ),
            {"d": district, "s": state, "a": assigned_to} | params,
        )
    ).all()
    return [FollowUp(*row) for row in rows]
