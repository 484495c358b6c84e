"""Matching: nearby search over 50,000 open requests, and booking under contention.

- Search: 20 nearest open requests within 3 km of random points in Beijing (half filtered by category, all
  by a 14-day start window), through the same use case the endpoint runs (`search.nearby`: eligibility
  check + the spatial query), each in its own transaction as a request would be; p50/p99 service-side.
  Anchor: the very same query with the planner forbidden index and bitmap scans (so the GiST index on
  `ll_to_earth(lat, lon)` cannot be used), in alternating rounds of the same run. Target: p99 <= 20 ms.
- Booking: many volunteers, few requests — every volunteer tries every request at once (`bookings.book`,
  one transaction each, a pool of --pool connections); attempts/s, successes, and a check that no request
  is overbooked and no volunteer holds overlapping bookings.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from bench._harness import embedded_infra, median
from bench._results import Figure, report
from matching.domain import bookings, search
from matching.settings import MatchingSettings
from servicekit import geo
from servicekit.auth import Principal
from servicekit.db import Database
from servicekit.errors import Problem
from servicekit.migrations import upgrade_to_head

CATEGORIES = [
    "emotional_comfort",
    "assistance",
    "travel_companionship",
    "culture_sports",
    "health_education",
    "legal_aid",
    "training_lectures",
    "fraud_prevention",
]
ITEM_OF = {
    "emotional_comfort": "00000000-0000-4000-8000-0000000c0101",
    "assistance": "00000000-0000-4000-8000-0000000c0201",
    "travel_companionship": "00000000-0000-4000-8000-0000000c0301",
    "culture_sports": "00000000-0000-4000-8000-0000000c0401",
    "health_education": "00000000-0000-4000-8000-0000000c0501",
    "legal_aid": "00000000-0000-4000-8000-0000000c0601",
    "training_lectures": "00000000-0000-4000-8000-0000000c0701",
    "fraud_prevention": "00000000-0000-4000-8000-0000000c0801",
}
CENTRE = (39.9042, 116.4074)


def _point(rng: random.Random) -> tuple[float, float]:
    """Most requests in the six urban districts, the rest anywhere in the municipality."""
    if rng.random() < 0.8:
        return rng.gauss(CENTRE[0], 0.08), rng.gauss(CENTRE[1], 0.10)
    return rng.uniform(39.45, 41.0), rng.uniform(115.45, 117.45)


async def seed(db: Database, count: int, now: datetime) -> None:
    rng = random.Random(7)
    rows = []
    for _ in range(count):
        lat, lon = _point(rng)
        category = rng.choice(CATEGORIES)
        start = now + timedelta(minutes=rng.randrange(60, 30 * 24 * 60))
        rows.append(
            (
                uuid.uuid4(),
                uuid.uuid4(),
                category,
                uuid.UUID(ITEM_OF[category]),
                lat,
                lon,
                start,
                start + timedelta(minutes=rng.choice([60, 90, 120])),
                rng.random() < 0.05,
            )
        )
    async with db.transaction() as session:
        for chunk in range(0, count, 5000):
            part = rows[chunk : chunk + 5000]
            await session.execute(
                text("""
                INSERT INTO requests (id, elder_id, district, category, item_id, lat, lon, address_key, address_sealed,
                    starts_at, ends_at, volunteers_needed, estimated_minutes, priority, state, submitted_by,
                    created_at, updated_at)
                SELECT id, elder, '110105', cat, item, lat, lon, 'bench', '\\x00', s, e, 1, 60, prio, 'open', 'bench',
                       now(), now()
                FROM unnest(CAST(:ids AS uuid[]), CAST(:elders AS uuid[]), CAST(:cats AS text[]), CAST(:items AS uuid[]),
                            CAST(:lats AS float8[]), CAST(:lons AS float8[]), CAST(:starts AS timestamptz[]),
                            CAST(:ends AS timestamptz[]), CAST(:prios AS boolean[]))
                     AS t(id, elder, cat, item, lat, lon, s, e, prio)"""),
                {
                    "ids": [r[0] for r in part],
                    "elders": [r[1] for r in part],
                    "cats": [r[2] for r in part],
                    "items": [r[3] for r in part],
                    "lats": [r[4] for r in part],
                    "lons": [r[5] for r in part],
                    "starts": [r[6] for r in part],
                    "ends": [r[7] for r in part],
                    "prios": [r[8] for r in part],
                },
            )
    async with db.engine.connect() as conn:
        await conn.execute(text("COMMIT"))
        await conn.execute(text("VACUUM ANALYZE requests"))


async def volunteers(db: Database, count: int) -> list[Principal]:
    people = [uuid.uuid4() for _ in range(count)]
    async with db.transaction() as session:
        await session.execute(
            text("INSERT INTO people (person_id, volunteer) SELECT p, true FROM unnest(CAST(:p AS uuid[])) p"),
            {"p": people},
        )
    return [Principal(id=str(p), kind="person", roles=frozenset({"volunteer"})) for p in people]


def unindexed_database(url: str) -> Database:
    """The same database through connections whose planner may not use index or bitmap scans. Their own pool:
    plans cached on the other connections (prepared statements keep theirs) would otherwise still be used."""
    db = Database(url, pool_size=2)
    db.engine = create_async_engine(
        url, pool_size=2, connect_args={"server_settings": {"enable_indexscan": "off", "enable_bitmapscan": "off"}}
    )
    db.sessionmaker = async_sessionmaker(db.engine, expire_on_commit=False)
    return db


async def search_round(
    db: Database, principal: Principal, points: list[tuple[float, float, str | None]], *, now: datetime
) -> tuple[list[float], int]:
    timings, found = [], 0
    for lat, lon, category in points:
        began = time.perf_counter()
        async with db.transaction() as session:
            rows = await search.nearby(
                session,
                principal,
                point=geo.Point(lat, lon),
                radius_m=3000,
                category=category,
                starts_from=now,
                starts_before=now + timedelta(days=14),
                limit=20,
            )
        timings.append((time.perf_counter() - began) * 1000)
        found += len(rows)
    return timings, found


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def booking_contention(
    db: Database, principals: list[Principal], *, requests: int, places: int, now: datetime
) -> tuple[float, int, int]:
    """Every volunteer tries every request; windows overlap pairwise, so the exclusion constraint is busy too."""
    ids = [uuid.uuid4() for _ in range(requests)]
    start = now + timedelta(days=40)
    async with db.transaction() as session:
        for i, request_id in enumerate(ids):
            begins = start + timedelta(minutes=45 * i)  # each overlaps the next
            await session.execute(
                text("""
                INSERT INTO requests (id, elder_id, district, category, item_id, lat, lon, address_key, address_sealed,
                    starts_at, ends_at, volunteers_needed, estimated_minutes, priority, state, submitted_by, created_at, updated_at)
                VALUES (:id, :elder, '110105', 'culture_sports', '00000000-0000-4000-8000-0000000c0401', 39.9, 116.4,
                    'bench', '\\x00', :s, :e, :n, 60, false, 'open', 'bench', now(), now())"""),
                {
                    "id": request_id,
                    "elder": uuid.uuid4(),
                    "s": begins,
                    "e": begins + timedelta(minutes=60),
                    "n": places,
                },
            )
    attempts = [(p, r) for p in principals for r in random.Random(3).sample(ids, len(ids))]
    random.Random(5).shuffle(attempts)
    successes = 0

    async def attempt(principal: Principal, request_id: uuid.UUID) -> bool:
        try:
            async with db.transaction() as session:
                await bookings.book(session, principal, request_id, now=now)
            return True
        except Problem:
            return False

    began = time.perf_counter()
    for chunk in range(0, len(attempts), 200):
        results = await asyncio.gather(*(attempt(p, r) for p, r in attempts[chunk : chunk + 200]))
        successes += sum(results)
    elapsed = time.perf_counter() - began
    async with db.transaction() as session:
        overbooked = (
            await session.execute(
                text("""
            SELECT count(*) FROM requests r WHERE r.id = ANY(:ids) AND r.volunteers_needed <
                (SELECT count(*) FROM bookings b WHERE b.request_id = r.id AND b.status = 'booked')"""),
                {"ids": ids},
            )
        ).scalar()
        overlapping = (
            await session.execute(
                text("""
            SELECT count(*) FROM bookings a JOIN bookings b ON a.volunteer_id = b.volunteer_id AND a.id < b.id
            WHERE a.status = 'booked' AND b.status = 'booked' AND a.during && b.during""")
            )
        ).scalar()
    if overbooked or overlapping:
        raise SystemExit(f"broken: {overbooked} overbooked requests, {overlapping} overlapping bookings")
    return len(attempts) / elapsed, successes, len(attempts)


async def main(args: argparse.Namespace) -> None:
    now = datetime.now(UTC)
    with embedded_infra() as infra:
        url = infra.create_database("matching_bench")
        await asyncio.to_thread(upgrade_to_head, MatchingSettings().migrations_path, url)
        db = Database(url, pool_size=args.pool)
        slow_db = unindexed_database(url)
        try:
            began = time.perf_counter()
            await seed(db, args.requests, now)
            print(f"seeded {args.requests:,} open requests in {time.perf_counter() - began:.1f} s")
            principal = (await volunteers(db, 1))[0]
            rng = random.Random(11)
            with_index, without_index, hits = [], [], []
            await search_round(db, principal, [(*_point(rng), None) for _ in range(50)], now=now)  # warm up
            for round_ in range(args.rounds):
                points = [(*_point(rng), rng.choice([None, rng.choice(CATEGORIES)])) for _ in range(args.queries)]
                timings, found = await search_round(db, principal, points, now=now)
                with_index.append((pct(timings, 0.5), pct(timings, 0.99)))
                hits.append(found / len(points))
                slow, _ = await search_round(slow_db, principal, points[: args.unindexed_queries], now=now)
                without_index.append((pct(slow, 0.5), pct(slow, 0.99)))
                print(
                    f"round {round_ + 1}: indexed p50 {with_index[-1][0]:.2f} ms p99 {with_index[-1][1]:.2f} ms "
                    f"({hits[-1]:.1f} results/query); without the index p50 {without_index[-1][0]:.1f} ms "
                    f"p99 {without_index[-1][1]:.1f} ms"
                )
            p50, p99 = median([x[0] for x in with_index]), median([x[1] for x in with_index])
            s50, s99 = median([x[0] for x in without_index]), median([x[1] for x in without_index])
            print(
                f"\nnearby search over {args.requests:,} open requests (20 nearest within 3 km, filtered), median of "
                f"{args.rounds} rounds:"
            )
            print(
                f"  with the GiST index:    p50 {p50:.2f} ms, p99 {p99:.2f} ms  (target p99 <= 20 ms: "
                f"{p99 / 20:.2f} x the budget)"
            )
            print(f"  without it (seq scan):  p50 {s50:.1f} ms, p99 {s99:.1f} ms")
            print(f"  speed-up: {s50 / p50:.0f}x at p50, {s99 / p99:.0f}x at p99")
            report(
                Figure(
                    "matching",
                    f"nearby search over {args.requests:,} open requests, p99",
                    f"{p99:.2f} ms (no index {s99:.0f})",
                    "budget 20 ms",
                    p99 / 20,
                    1,
                    at_most=True,
                )
            )

            rates = []
            for round_ in range(args.rounds):
                principals = await volunteers(db, args.volunteers)
                rate, ok, tried = await booking_contention(
                    db,
                    principals,
                    requests=args.hot_requests,
                    places=args.places,
                    now=now + timedelta(days=round_ * 10),
                )
                rates.append(rate)
                print(
                    f"booking round {round_ + 1}: {tried} attempts by {args.volunteers} volunteers on "
                    f"{args.hot_requests} requests x {args.places} places: {ok} booked, {rate:.0f} attempts/s"
                )
            print(
                f"\nbooking under contention: median {median(rates):.0f} attempts/s (each a full transaction; "
                f"no overbooking, no overlapping bookings)"
            )
        finally:
            await db.dispose()
            await slow_db.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--unindexed-queries", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--volunteers", type=int, default=200)
    parser.add_argument("--hot-requests", type=int, default=10)
    parser.add_argument("--places", type=int, default=3)
    parser.add_argument("--pool", type=int, default=20)
    asyncio.run(main(parser.parse_args()))
