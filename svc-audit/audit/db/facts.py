"""Facts the rules read, kept from the events with the events' own times."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class Service:
    request_id: uuid.UUID
    volunteer_id: uuid.UUID
    elder_id: uuid.UUID
    district: str
    institution_id: uuid.UUID | None
    night_item: bool
    checked_in_at: datetime
    checked_out_at: datetime
    check_in_distance_m: int | None
    check_out_distance_m: int | None
    check_in_method: str
    check_out_method: str
    recorded_by: str
    minutes: int
    event_id: uuid.UUID


@dataclass(frozen=True)
class Gift:
    operation_id: uuid.UUID
    from_id: uuid.UUID
    to_id: uuid.UUID
    amount: int
    at: datetime
    event_id: uuid.UUID


_SERVICE_COLUMNS = ", ".join(Service.__dataclass_fields__)
_GIFT_COLUMNS = ", ".join(Gift.__dataclass_fields__)


async def record_person_district(session: AsyncSession, person_id: uuid.UUID, district: str) -> None:
    await session.execute(text("INSERT INTO people VALUES (:p, :d) ON CONFLICT (person_id) DO UPDATE SET district = :d"),
                          {"p": person_id, "d": district})


async def district_of(session: AsyncSession, person_id: uuid.UUID) -> str | None:
    return (await session.execute(text("SELECT district FROM people WHERE person_id = :p"), {"p": person_id})).scalar()


async def record_service(session: AsyncSession, service: Service) -> bool:
    """False when already known (a replay)."""
    fields = list(Service.__dataclass_fields__)
    inserted = (await session.execute(text(
        f"INSERT INTO services ({_SERVICE_COLUMNS}) VALUES ({', '.join(':' + f for f in fields)})"
        " ON CONFLICT DO NOTHING RETURNING 1"), {f: getattr(service, f) for f in fields})).first()
    return inserted is not None


async def record_gift(session: AsyncSession, gift: Gift) -> bool:
    fields = list(Gift.__dataclass_fields__)
    inserted = (await session.execute(text(
        f"INSERT INTO gifts ({_GIFT_COLUMNS}) VALUES ({', '.join(':' + f for f in fields)})"
        " ON CONFLICT DO NOTHING RETURNING 1"), {f: getattr(gift, f) for f in fields})).first()
    return inserted is not None


async def overlapping_services(session: AsyncSession, service: Service) -> list[Service]:
    rows = (await session.execute(text(
        f"SELECT {_SERVICE_COLUMNS} FROM services WHERE volunteer_id = :v AND request_id <> :r"
        " AND tstzrange(checked_in_at, checked_out_at) && tstzrange(:i, :o) ORDER BY checked_in_at, request_id"),
        {"v": service.volunteer_id, "r": service.request_id, "i": service.checked_in_at, "o": service.checked_out_at})).all()
    return [Service(*row) for row in rows]


async def services_between(session: AsyncSession, a: uuid.UUID, b: uuid.UUID, around: datetime,
                           window: timedelta) -> list[Service]:
    rows = (await session.execute(text(
        f"SELECT {_SERVICE_COLUMNS} FROM services WHERE ((volunteer_id = :a AND elder_id = :b)"
        " OR (volunteer_id = :b AND elder_id = :a)) AND checked_in_at BETWEEN :lo AND :hi"
        " ORDER BY checked_in_at, request_id"), {"a": a, "b": b, "lo": around - window, "hi": around + window})).all()
    return [Service(*row) for row in rows]


async def gifts_around(session: AsyncSession, *, person: uuid.UUID, side: str, around: datetime,
                       window: timedelta) -> list[Gift]:
    column = {"from": "from_id", "to": "to_id"}[side]
    rows = (await session.execute(text(
        f"SELECT {_GIFT_COLUMNS} FROM gifts WHERE {column} = :p AND at BETWEEN :lo AND :hi ORDER BY at, operation_id"),
        {"p": person, "lo": around - window, "hi": around + window})).all()
    return [Gift(*row) for row in rows]


async def chained_gifts(session: AsyncSession, gift: Gift, window: timedelta) -> list[tuple[Gift, Gift]]:
    """(earlier, later) pairs where the later gift passes on from the earlier one's receiver within `window`."""
    onward = (await session.execute(text(
        f"SELECT {_GIFT_COLUMNS} FROM gifts WHERE from_id = :to AND at >= :at AND at <= :until AND operation_id <> :op"),
        {"to": gift.to_id, "at": gift.at, "until": gift.at + window, "op": gift.operation_id})).all()
    inbound = (await session.execute(text(
        f"SELECT {_GIFT_COLUMNS} FROM gifts WHERE to_id = :frm AND at <= :at AND at >= :since AND operation_id <> :op"),
        {"frm": gift.from_id, "at": gift.at, "since": gift.at - window, "op": gift.operation_id})).all()
    return [(gift, Gift(*row)) for row in onward] + [(Gift(*row), gift) for row in inbound]
