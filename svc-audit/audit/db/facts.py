"""Facts the rules read, kept from the events with the events' own times. Every query takes a whole
consumed batch at once (unnest): one statement per kind of question, not one per event."""
from __future__ import annotations

import operator
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.db import copy_rows


@dataclass(slots=True)  # not frozen: built for every service consumed, and frozen init is slow
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


@dataclass(slots=True)
class Gift:
    operation_id: uuid.UUID
    from_id: uuid.UUID
    to_id: uuid.UUID
    amount: int
    at: datetime
    event_id: uuid.UUID


SERVICE_FIELDS = list(Service.__dataclass_fields__)
_SERVICE_ROW = operator.attrgetter(*SERVICE_FIELDS)  # a service as a row tuple, in C
GIFT_FIELDS = list(Gift.__dataclass_fields__)
_SERVICE_TYPES = ["uuid", "uuid", "uuid", "text", "uuid", "boolean", "timestamptz", "timestamptz", "integer", "integer",
                  "text", "text", "text", "integer", "uuid"]
_GIFT_TYPES = ["uuid", "uuid", "uuid", "integer", "timestamptz", "uuid"]
_S = ", ".join(f"s.{f}" for f in SERVICE_FIELDS)
_G = ", ".join(f"g.{f}" for f in GIFT_FIELDS)


def _unnest(fields: list[str], types: list[str]) -> str:
    return ", ".join(f"CAST(:{f} AS {t}[])" for f, t in zip(fields, types))


def _columns(rows: list, fields: list[str]) -> dict[str, list]:
    return {f: [getattr(r, f) for r in rows] for f in fields}


async def record_districts(session: AsyncSession, people: list[tuple[uuid.UUID, str]]) -> None:
    latest = dict(people)  # the last declaration in the batch wins
    await session.execute(text(
        "INSERT INTO people SELECT * FROM unnest(CAST(:p AS uuid[]), CAST(:d AS text[]))"
        " ON CONFLICT (person_id) DO UPDATE SET district = excluded.district"), {"p": list(latest), "d": list(latest.values())})


async def districts_of(session: AsyncSession, people: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    rows = (await session.execute(text("SELECT person_id, district FROM people WHERE person_id = ANY(:p)"),
                                  {"p": list(set(people))})).all()
    return {row.person_id: row.district for row in rows}


async def record_services(session: AsyncSession, services: list[Service]) -> list[Service]:
    """The services not known before (a service reported again adds nothing), copied in. Only audit's consumer
    writes services, while it holds the chain's lock (trail.lock_head), so nothing can add one between the
    look-up and the copy."""
    known = {(row.request_id, row.volunteer_id) for row in (await session.execute(text(
        "SELECT request_id, volunteer_id FROM services WHERE request_id = ANY(:r)"),
        {"r": list({s.request_id for s in services})})).all()}
    new: list[Service] = []
    for service in services:
        key = (service.request_id, service.volunteer_id)
        if key not in known:
            known.add(key)
            new.append(service)
    await copy_rows(session, "services", SERVICE_FIELDS, list(map(_SERVICE_ROW, new)))
    return new


async def record_gifts(session: AsyncSession, gifts: list[Gift]) -> list[Gift]:
    inserted = set((await session.execute(text(
        f"INSERT INTO gifts ({', '.join(GIFT_FIELDS)}) SELECT * FROM unnest({_unnest(GIFT_FIELDS, _GIFT_TYPES)})"
        " ON CONFLICT DO NOTHING RETURNING operation_id"), _columns(gifts, GIFT_FIELDS))).scalars())
    return [g for g in gifts if g.operation_id in inserted]


async def overlapping_services(session: AsyncSession, services: list[Service]) -> dict[int, list[Service]]:
    """For each of `services` (by position), the volunteer's other services whose spans overlap it."""
    rows = (await session.execute(text(f"""
        SELECT n.ord, {_S} FROM unnest(CAST(:r AS uuid[]), CAST(:v AS uuid[]), CAST(:i AS timestamptz[]),
                                       CAST(:o AS timestamptz[])) WITH ORDINALITY n(r, v, i, o, ord)
        JOIN services s ON s.volunteer_id = n.v AND s.request_id <> n.r
             AND tstzrange(s.checked_in_at, s.checked_out_at) && tstzrange(n.i, n.o)
        ORDER BY n.ord, s.checked_in_at, s.request_id"""),
        {"r": [s.request_id for s in services], "v": [s.volunteer_id for s in services],
         "i": [s.checked_in_at for s in services], "o": [s.checked_out_at for s in services]})).all()
    return _by_position(rows, Service)


async def services_between(session: AsyncSession, services: list[Service], spans_s: list[int]) -> dict[int, list[Service]]:
    """For each of `services`, every service between its volunteer and elder (either way) within ± its span —
    only for pairs where the elder has served the volunteer at all (else two-way service cannot be)."""
    params = {"v": [s.volunteer_id for s in services], "e": [s.elder_id for s in services],
              "at": [s.checked_in_at for s in services], "w": spans_s}
    pairs = """unnest(CAST(:v AS uuid[]), CAST(:e AS uuid[]), CAST(:at AS timestamptz[]), CAST(:w AS integer[]))
               WITH ORDINALITY n(v, e, at, w, ord)"""
    rows = (await session.execute(text(f"""
        WITH pairs AS (SELECT * FROM {pairs}
                       WHERE EXISTS (SELECT 1 FROM services r WHERE r.volunteer_id = n.e AND r.elder_id = n.v))
        SELECT p.ord, {_S} FROM pairs p JOIN services s ON s.volunteer_id = p.v AND s.elder_id = p.e
             AND s.checked_in_at BETWEEN p.at - make_interval(secs => p.w) AND p.at + make_interval(secs => p.w)
        UNION ALL
        SELECT p.ord, {_S} FROM pairs p JOIN services s ON s.volunteer_id = p.e AND s.elder_id = p.v
             AND s.checked_in_at BETWEEN p.at - make_interval(secs => p.w) AND p.at + make_interval(secs => p.w)
        ORDER BY 1"""), params)).all()
    found = _by_position(rows, Service)
    return {k: sorted(v, key=lambda s: (s.checked_in_at, str(s.request_id))) for k, v in found.items()}


async def gifts_around(session: AsyncSession, gifts: list[Gift], *, side: str, spans_s: list[int]) -> dict[int, list[Gift]]:
    """For each of `gifts`, the gifts by (side='from') or to (side='to') the same person within ± its span."""
    column = {"from": "from_id", "to": "to_id"}[side]
    rows = (await session.execute(text(f"""
        SELECT n.ord, {_G} FROM unnest(CAST(:p AS uuid[]), CAST(:at AS timestamptz[]), CAST(:w AS integer[]))
             WITH ORDINALITY n(p, at, w, ord)
        JOIN gifts g ON g.{column} = n.p AND g.at BETWEEN n.at - make_interval(secs => n.w) AND n.at + make_interval(secs => n.w)
        ORDER BY n.ord, g.at, g.operation_id"""),
        {"p": [getattr(g, column) for g in gifts], "at": [g.at for g in gifts], "w": spans_s})).all()
    return _by_position(rows, Gift)


async def chained_gifts(session: AsyncSession, gifts: list[Gift], spans_s: list[int]) -> dict[int, list[tuple[Gift, Gift]]]:
    """For each of `gifts`, the (earlier, later) pairs it forms with a gift passing on from the earlier one's
    receiver within the span."""
    params = {"op": [g.operation_id for g in gifts], "frm": [g.from_id for g in gifts], "to": [g.to_id for g in gifts],
              "at": [g.at for g in gifts], "w": spans_s}
    batch = """unnest(CAST(:op AS uuid[]), CAST(:frm AS uuid[]), CAST(:to AS uuid[]), CAST(:at AS timestamptz[]),
               CAST(:w AS integer[])) WITH ORDINALITY n(op, frm, to_, at, w, ord)"""
    onward = (await session.execute(text(f"""
        SELECT n.ord, {_G} FROM {batch} JOIN gifts g ON g.from_id = n.to_ AND g.operation_id <> n.op
             AND g.at >= n.at AND g.at <= n.at + make_interval(secs => n.w) ORDER BY 1, g.at"""), params)).all()
    inbound = (await session.execute(text(f"""
        SELECT n.ord, {_G} FROM {batch} JOIN gifts g ON g.to_id = n.frm AND g.operation_id <> n.op
             AND g.at <= n.at AND g.at >= n.at - make_interval(secs => n.w) ORDER BY 1, g.at"""), params)).all()
    pairs: dict[int, list[tuple[Gift, Gift]]] = {}
    for position, found in _by_position(onward, Gift).items():
        pairs.setdefault(position, []).extend((gifts[position - 1], g) for g in found)
    for position, found in _by_position(inbound, Gift).items():
        pairs.setdefault(position, []).extend((g, gifts[position - 1]) for g in found)
    return pairs


def _by_position(rows, kind) -> dict[int, list]:
    out: dict[int, list] = {}
    for row in rows:
        out.setdefault(row[0], []).append(kind(*row[1:]))
    return out
