"""Facts the rules read, kept from the events with the events' own times. Every query takes a whole
consumed batch at once: one statement per kind of question, not one per event. Services are read out of the
trail's payloads by PostgreSQL, and the questions about them name the batch by trail position (the services
read from the trail records of a judged range), so a batch of services never travels from the service to
the database and back (ADR 10)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from audit.settings import RuleThresholds
from contracts.matching import ServiceCompleted


@dataclass(slots=True)
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
GIFT_FIELDS = list(Gift.__dataclass_fields__)
_GIFT_TYPES = ["uuid", "uuid", "uuid", "integer", "timestamptz", "uuid"]
_S = ", ".join(f"s.{f}" for f in SERVICE_FIELDS)
_N = ", ".join(f"n.{f}" for f in SERVICE_FIELDS)
_G = ", ".join(f"g.{f}" for f in GIFT_FIELDS)


def _unnest(fields: list[str], types: list[str]) -> str:
    return ", ".join(f"CAST(:{f} AS {t}[])" for f, t in zip(fields, types, strict=True))


def _columns(rows: list, fields: list[str]) -> dict[str, list]:
    return {f: [getattr(r, f) for r in rows] for f in fields}


async def record_districts(session: AsyncSession, people: list[tuple[uuid.UUID, str]]) -> None:
    latest = dict(people)  # the last declaration in the batch wins
    await session.execute(
        text(
            "INSERT INTO people SELECT * FROM unnest(CAST(:p AS uuid[]), CAST(:d AS text[]))"
            " ON CONFLICT (person_id) DO UPDATE SET district = excluded.district"
        ),
        {"p": list(latest), "d": list(latest.values())},
    )


async def districts_of(session: AsyncSession, people: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    rows = (
        await session.execute(
            text("SELECT person_id, district FROM people WHERE person_id = ANY(:p)"), {"p": list(set(people))}
        )
    ).all()
    return {row.person_id: row.district for row in rows}


_LEAST_RECORDED = "(SELECT min(seq) FROM recorded)"  # how far every recorder has got


@dataclass(slots=True)
class Claimed:
    """A range of the trail claimed for judging, (after, upto] (after == upto: nothing to judge), the trail's
    head, how far every recorder has recorded services, and the (event_id, type, payload) of the range's
    records of the types asked for, in order."""

    after: int
    upto: int
    head: int
    recorded: int
    payloads: list


async def claim_judging(session: AsyncSession, most: int, types: list[str]) -> Claimed:
    """The range of the trail the rules judge next: at most `most` records up to the trail's head, with the
    payloads of its records of `types`. Claimed with one statement: the `judged` cursor is locked (one judge
    at a time records facts and alerts) and moved to `upto` in the caller's transaction, so it moves only if
    the judging commits. When there is nothing to judge nothing is written (and `recorded` is `upto`: the
    recorders are not asked)."""
    rows = (
        await session.execute(
            text(f"""
        WITH claimed AS (
            UPDATE judged j SET seq = least(h.seq, j.seq + :most) FROM chain_head h
            WHERE j.id = 1 AND h.id = 1 AND j.seq < h.seq
            RETURNING old.seq AS after, new.seq AS upto, h.seq AS head),
        range AS (
            SELECT after, upto, head, coalesce({_LEAST_RECORDED}, -1) AS recorded FROM claimed
            UNION ALL
            SELECT j.seq, j.seq, h.seq, j.seq FROM judged j, chain_head h
            WHERE j.id = 1 AND h.id = 1 AND NOT EXISTS (SELECT 1 FROM claimed))
        SELECT 0 AS at, after, upto, head, recorded, NULL::uuid, NULL::text, NULL::text FROM range
        UNION ALL
        SELECT l.seq, NULL, NULL, NULL, NULL, l.event_id, l.type, l.payload
        FROM claimed c JOIN audit_log l ON l.seq > c.after AND l.seq <= c.upto AND l.type = ANY(:types)
        ORDER BY 1"""),
            {"most": most, "types": types},
        )
    ).all()
    first = rows[0]
    return Claimed(first[1], first[2], first[3], first[4], [row[5:] for row in rows[1:]])


async def record_unjudged(session: AsyncSession, seq: int, error: str, at: datetime) -> None:
    await session.execute(
        text("INSERT INTO unjudged (seq, error, at) VALUES (:s, :e, :at) ON CONFLICT DO NOTHING"),
        {"s": seq, "e": error[:1000], "at": at},
    )


async def judging_state(session: AsyncSession, *, limit: int = 100) -> tuple[int, list[dict]]:
    """The seq judged through, and the first `limit` records the rules could not read (seq, error, at)."""
    judged = (await session.execute(text("SELECT seq FROM judged WHERE id = 1"))).scalar_one()
    rows = (
        (await session.execute(text("SELECT seq, error, at FROM unjudged ORDER BY seq LIMIT :l"), {"l": limit}))
        .mappings()
        .all()
    )
    return judged, [dict(r) for r in rows]


async def payloads(session: AsyncSession, after: int, upto: int, types: list[str]) -> list:
    """(event_id, type, payload) of the trail records in (after, upto] of the given types, in order."""
    return list(
        (
            await session.execute(
                text(
                    "SELECT event_id, type, payload FROM audit_log WHERE seq > :after AND seq <= :upto AND type = ANY(:types)"
                    " ORDER BY seq"
                ),
                {"after": after, "upto": upto, "types": types},
            )
        ).all()
    )


async def lock_recorded(session: AsyncSession, part: int) -> int:
    """How far recorder `part` has recorded the trail's service reports, locked (its cursor exists:
    `ensure_recorders`)."""
    return (
        await session.execute(text("SELECT seq FROM recorded WHERE part = :p FOR UPDATE"), {"p": part})
    ).scalar_one()


async def recording_state(session: AsyncSession) -> tuple[int, int]:
    """The trail's head, and how far every recorder has recorded its service reports (not locked)."""
    row = (
        await session.execute(
            text(
                f"SELECT h.seq, coalesce({_LEAST_RECORDED}, j.seq) FROM chain_head h, judged j WHERE h.id = 1 AND j.id = 1"
            )
        )
    ).one()
    return row[0], row[1]


async def move_recorded(session: AsyncSession, part: int, seq: int) -> None:
    await session.execute(text("UPDATE recorded SET seq = :s WHERE part = :p"), {"s": seq, "p": part})


async def record_services(session: AsyncSession, after: int, upto: int, *, part: int = 0, parts: int = 1) -> None:
    """Read the services of the completed-service records in (after, upto] of the trail whose subject hashes
    to `part` of `parts` out of their payloads (in PostgreSQL: the service sends no rows) and keep them. A
    service reported again adds nothing: the earliest report in the trail's order wins, whichever recorder
    commits first."""
    await session.execute(
        _RECORD_SERVICES, {"after": after, "upto": upto, "type": ServiceCompleted.TYPE, "part": part, "parts": parts}
    )


async def claim_and_record_services(session: AsyncSession, upto: int, *, part: int, parts: int) -> None:
    """`record_services` from recorder `part`'s cursor to `upto`, the cursor locked and moved to `upto` by the
    same statement (nothing is done if it is there already)."""
    await session.execute(
        _CLAIM_AND_RECORD_SERVICES, {"upto": upto, "type": ServiceCompleted.TYPE, "part": part, "parts": parts}
    )


async def ensure_recorders(session: AsyncSession, parts: int) -> None:
    """A cursor for each of `parts` recorders; one that did not exist starts where the rules have judged
    (everything before was recorded with them)."""
    await session.execute(
        text(
            "INSERT INTO recorded SELECT p, seq FROM judged, generate_series(0, :n - 1) AS p"
            " WHERE id = 1 ON CONFLICT DO NOTHING"
        ),
        {"n": parts},
    )


# Which of `:parts` recorders takes a record's service reports: by its subject, so the reports of one
# request fall to one recorder, in trail order.
_RECORDER_OF = "mod(hashtext({subject})::bigint + 2147483648, :parts)"


async def recorder_of(session: AsyncSession, subject: str, parts: int) -> int:
    return (
        await session.execute(text(f"SELECT {_RECORDER_OF.format(subject=':s')}"), {"s": subject, "parts": parts})
    ).scalar_one()


def _recording(after: str) -> str:
    return f"""
    INSERT INTO services ({", ".join(SERVICE_FIELDS)}, seq)
    SELECT DISTINCT ON (d.request_id, a.volunteer_id) d.request_id, a.volunteer_id, d.elder_id, d.district, d.institution_id, coalesce(d.night_service_item, false),
           a.checked_in_at, a.checked_out_at, a.check_in_distance_m, a.check_out_distance_m, a.check_in_method,
           a.check_out_method, a.check_out_by, a.minutes, l.event_id, l.seq
    FROM audit_log l
    CROSS JOIN LATERAL json_to_record(l.payload::json) AS d(request_id uuid, elder_id uuid, district text,
        institution_id uuid, night_service_item boolean, attendance json)
    CROSS JOIN LATERAL ROWS FROM (json_to_recordset(coalesce(d.attendance, '[]')) AS (volunteer_id uuid,
        checked_in_at timestamptz, checked_out_at timestamptz, check_in_distance_m integer, check_out_distance_m integer,
        check_in_method text, check_out_method text, check_out_by text, minutes integer)) WITH ORDINALITY AS a(
        volunteer_id, checked_in_at, checked_out_at, check_in_distance_m, check_out_distance_m, check_in_method,
        check_out_method, check_out_by, minutes, n)
    WHERE l.seq > {after} AND l.seq <= :upto AND l.type = :type
          AND {_RECORDER_OF.format(subject="l.subject")} = :part
    ORDER BY d.request_id, a.volunteer_id, l.seq, a.n
    ON CONFLICT (request_id, volunteer_id) DO UPDATE SET {", ".join(f"{f} = excluded.{f}" for f in [*SERVICE_FIELDS[2:], "seq"])}
        WHERE services.seq > excluded.seq"""


_RECORD_SERVICES = text(_recording(":after"))
# The cursor claimed in the statement: none returned (it is at `upto` already) makes the range empty.
_CLAIM_AND_RECORD_SERVICES = text(
    "WITH claimed AS (UPDATE recorded SET seq = :upto WHERE part = :part AND seq < :upto RETURNING old.seq AS after)"
    + _recording("(SELECT after FROM claimed)")
)

# The thresholds the service queries need, per district: a row per district with overrides, the city-wide
# value where a district has none.
_LIMIT_TYPES = {
    "two_way_window_days": "integer",
    "night_starts_hour": "integer",
    "night_ends_hour": "integer",
    "allow_documented_night_items": "boolean",
    "far_distance_m": "integer",
    "min_service_minutes": "integer",
    "max_span_hours": "integer",
}
_LIMITS = (
    "lim AS (SELECT * FROM unnest(CAST(:lim_district AS text[]), "
    + ", ".join(f"CAST(:lim_{f} AS {t}[])" for f, t in _LIMIT_TYPES.items())
    + f") AS l(district, {', '.join(_LIMIT_TYPES)}))"
)


def _limit(field: str) -> str:
    return f"coalesce(lim.{field}, :default_{field})"


def _limit_params(default: RuleThresholds, districts: dict[str, RuleThresholds]) -> dict:
    params: dict = {"lim_district": list(districts)}
    for field in _LIMIT_TYPES:
        params[f"lim_{field}"] = [getattr(limits, field) for limits in districts.values()]
        params[f"default_{field}"] = getattr(default, field)
    return params


_NEW = "n.seq > :after AND n.seq <= :upto"


@dataclass(slots=True)
class ServicesToJudge:
    """What the rules need about the services of trail records (after, upto], read with one statement.

    overlapping: each such service whose volunteer has other services overlapping it in time, with those.
      Spans are half-open, [checked in, checked out): back-to-back services do not overlap, nor does a
      service of no length. The B-tree on (volunteer, checked out, checked in) finds them: the volunteer's
      services that end after this one starts, of which those that start before it ends.
    between: each such service whose elder has ever served its volunteer (else two-way service cannot be),
      with every service between the two (either way) within ± the district's two-way window of it.
    suspects: those that cross one of their district's single-service thresholds (late at night without an
      allowed documented item, far from the place, too short or too long): rules.single_service_rules names
      which."""

    overlapping: list[tuple[Service, list[Service]]]
    between: list[tuple[Service, list[Service]]]
    suspects: list[Service]


def _night(at: str) -> str:
    hour = f"extract(hour FROM n.{at} AT TIME ZONE :zone)"
    return f"{hour} >= {_limit('night_starts_hour')} OR {hour} < {_limit('night_ends_hour')}"


_NO_S = ", ".join("NULL" for _ in SERVICE_FIELDS)
_BY_RELATED = ", ".join(str(3 + len(SERVICE_FIELDS) + SERVICE_FIELDS.index(f)) for f in ("checked_in_at", "request_id"))
_SERVICES_TO_JUDGE = f"""
    WITH {_LIMITS},
    new AS (SELECT * FROM services n WHERE {_NEW}),
    pairs AS (
        SELECT n.*, make_interval(secs => {_limit("two_way_window_days")} * 86400) AS w
        FROM new n LEFT JOIN lim ON lim.district = n.district
        WHERE EXISTS (SELECT 1 FROM services r WHERE r.volunteer_id = n.elder_id AND r.elder_id = n.volunteer_id))
    SELECT 'overlapping' AS kind, n.seq, {_N}, {_S} FROM new n
    JOIN services s ON s.volunteer_id = n.volunteer_id AND s.checked_out_at > n.checked_in_at
         AND s.checked_in_at < n.checked_out_at AND s.checked_in_at < s.checked_out_at
         AND s.request_id <> n.request_id
    WHERE n.checked_in_at < n.checked_out_at
    UNION ALL
    SELECT 'between', n.seq, {_N}, {_S} FROM pairs n JOIN services s ON s.volunteer_id = n.volunteer_id
         AND s.elder_id = n.elder_id AND s.checked_in_at BETWEEN n.checked_in_at - n.w AND n.checked_in_at + n.w
    UNION ALL
    SELECT 'between', n.seq, {_N}, {_S} FROM pairs n JOIN services s ON s.volunteer_id = n.elder_id
         AND s.elder_id = n.volunteer_id AND s.checked_in_at BETWEEN n.checked_in_at - n.w AND n.checked_in_at + n.w
    UNION ALL
    SELECT 'suspect', n.seq, {_N}, {_NO_S} FROM new n LEFT JOIN lim ON lim.district = n.district
    WHERE (NOT (n.night_item AND {_limit("allow_documented_night_items")})
           AND ({_night("checked_in_at")} OR {_night("checked_out_at")}))
        OR greatest(n.check_in_distance_m, n.check_out_distance_m) >= {_limit("far_distance_m")}
        OR n.minutes < {_limit("min_service_minutes")}
        OR n.checked_out_at - n.checked_in_at > make_interval(hours => {_limit("max_span_hours")})
    ORDER BY 1, 2, 3, 4, {_BY_RELATED}"""


async def services_to_judge(
    session: AsyncSession,
    after: int,
    upto: int,
    default: RuleThresholds,
    districts: dict[str, RuleThresholds],
    *,
    zone: str,
) -> ServicesToJudge:
    """The services of trail records (after, upto] a rule may fire on, with the services the rules weigh
    them against (ServicesToJudge), with `districts`' thresholds where they differ from `default` and
    night hours in `zone`."""
    rows = (
        await session.execute(
            text(_SERVICES_TO_JUDGE), {"after": after, "upto": upto, "zone": zone, **_limit_params(default, districts)}
        )
    ).all()
    kinds: dict[str, list] = {"overlapping": [], "between": [], "suspect": []}
    for row in rows:
        kinds[row[0]].append(row[2:])
    return ServicesToJudge(
        overlapping=_with_related(kinds["overlapping"]),
        between=[
            (service, sorted(between, key=lambda s: (s.checked_in_at, str(s.request_id))))
            for service, between in _with_related(kinds["between"])
        ],
        suspects=[Service(*row[: len(SERVICE_FIELDS)]) for row in kinds["suspect"]],
    )


def _with_related(rows) -> list[tuple[Service, list[Service]]]:
    """Rows of (a new service's columns, a related service's columns), grouped by the new service."""
    width = len(SERVICE_FIELDS)
    grouped: dict[tuple, tuple[Service, list[Service]]] = {}
    for row in rows:
        key = (row[0], row[1])  # request_id, volunteer_id
        if key not in grouped:
            grouped[key] = (Service(*row[:width]), [])
        grouped[key][1].append(Service(*row[width:]))
    return list(grouped.values())


async def record_gifts(session: AsyncSession, gifts: list[Gift]) -> list[Gift]:
    inserted = set(
        (
            await session.execute(
                text(
                    f"INSERT INTO gifts ({', '.join(GIFT_FIELDS)}) SELECT * FROM unnest({_unnest(GIFT_FIELDS, _GIFT_TYPES)})"
                    " ON CONFLICT DO NOTHING RETURNING operation_id"
                ),
                _columns(gifts, GIFT_FIELDS),
            )
        ).scalars()
    )
    return [g for g in gifts if g.operation_id in inserted]


async def gifts_around(
    session: AsyncSession, gifts: list[Gift], *, spans_s: list[int]
) -> dict[str, dict[int, list[Gift]]]:
    """For each of `gifts` (by position, from 1), the gifts by the same giver ('from') and to the same receiver
    ('to') within ± its span: one statement."""
    rows = (
        await session.execute(
            text(f"""
        WITH n AS (SELECT * FROM unnest(CAST(:frm AS uuid[]), CAST(:to AS uuid[]), CAST(:at AS timestamptz[]),
                                        CAST(:w AS integer[])) WITH ORDINALITY n(frm, to_, at, w, ord))
        SELECT 'from' AS side, n.ord, {_G} FROM n JOIN gifts g ON g.from_id = n.frm
             AND g.at BETWEEN n.at - make_interval(secs => n.w) AND n.at + make_interval(secs => n.w)
        UNION ALL
        SELECT 'to', n.ord, {_G} FROM n JOIN gifts g ON g.to_id = n.to_
             AND g.at BETWEEN n.at - make_interval(secs => n.w) AND n.at + make_interval(secs => n.w)
        ORDER BY 1, 2, {2 + GIFT_FIELDS.index("at") + 1}, {2 + GIFT_FIELDS.index("operation_id") + 1}"""),
            {
                "frm": [g.from_id for g in gifts],
                "to": [g.to_id for g in gifts],
                "at": [g.at for g in gifts],
                "w": spans_s,
            },
        )
    ).all()
    return {side: _by_position([row[1:] for row in rows if row[0] == side], Gift) for side in ("from", "to")}


async def chained_gifts(
    session: AsyncSession, gifts: list[Gift], spans_s: list[int]
) -> dict[int, list[tuple[Gift, Gift]]]:
    """For each of `gifts`, the (earlier, later) pairs it forms with a gift passing on from the earlier one's
    receiver within the span (onward from it, or inbound to its giver): one statement."""
    rows = (
        await session.execute(
            text(f"""
        WITH n AS (SELECT * FROM unnest(CAST(:op AS uuid[]), CAST(:frm AS uuid[]), CAST(:to AS uuid[]),
                                        CAST(:at AS timestamptz[]), CAST(:w AS integer[])) WITH ORDINALITY n(op, frm, to_, at, w, ord))
        SELECT 'onward' AS way, n.ord, {_G} FROM n JOIN gifts g ON g.from_id = n.to_ AND g.operation_id <> n.op
             AND g.at >= n.at AND g.at <= n.at + make_interval(secs => n.w)
        UNION ALL
        SELECT 'inbound', n.ord, {_G} FROM n JOIN gifts g ON g.to_id = n.frm AND g.operation_id <> n.op
             AND g.at <= n.at AND g.at >= n.at - make_interval(secs => n.w)
        ORDER BY 1 DESC, 2, {2 + GIFT_FIELDS.index("at") + 1}"""),
            {
                "op": [g.operation_id for g in gifts],
                "frm": [g.from_id for g in gifts],
                "to": [g.to_id for g in gifts],
                "at": [g.at for g in gifts],
                "w": spans_s,
            },
        )
    ).all()
    pairs: dict[int, list[tuple[Gift, Gift]]] = {}
    for position, found in _by_position([row[1:] for row in rows if row[0] == "onward"], Gift).items():
        pairs.setdefault(position, []).extend((gifts[position - 1], g) for g in found)
    for position, found in _by_position([row[1:] for row in rows if row[0] == "inbound"], Gift).items():
        pairs.setdefault(position, []).extend((g, gifts[position - 1]) for g in found)
    return pairs


def _by_position(rows, kind) -> dict[int, list]:
    out: dict[int, list] = {}
    for row in rows:
        out.setdefault(row[0], []).append(kind(*row[1:]))
    return out
