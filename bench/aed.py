"""AED lookup and SOS latency.

1. Lookup over 100,000 devices spread over Beijing (mixed opening hours, statuses, access levels and
   expiry dates): the nearest 5 usable now, p50/p99 service-side — the `lookup.nearest` use case, one
   transaction each as a request would be — against (a) the same SQL run directly on an asyncpg connection
   (the service's overhead ratio) and (b) the same query with index and bitmap scans forbidden (the
   index's speed-up), in alternating rounds. Target p99 <= 10 ms.
2. SOS accepted -> first responder alert published on Kafka: `POST /api/v1/incidents` straight to svc-aed
   (the whole system running), clock from the request to the `incident.step` "alerted" event read from
   `aed.events`; p50/p99. Target p99 <= 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import time
import uuid
from datetime import UTC, date, datetime, timedelta

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer
from sqlalchemy import text

from aed.db import devices as repo
from aed.domain import lookup
from aed.settings import AedSettings
from bench._harness import bench_stack, embedded_infra, median
from bench._results import Figure, report
from bench.matching import pct, unindexed_database
from servicekit import geo
from servicekit.db import Database
from servicekit.events import CloudEvent
from servicekit.migrations import upgrade_to_head

CENTRE = (39.9042, 116.4074)
HOURS = [
    ("24/7", None),
    ("Mo-Fr 08:00-18:00", [(d, "08:00", "18:00") for d in range(1, 6)]),
    ("Mo-Su 07:00-22:00", [(d, "07:00", "22:00") for d in range(1, 8)]),
    ("Mo-Su 22:00-02:00", [(d, "22:00", "02:00") for d in range(1, 8)]),
]


def _point(rng: random.Random) -> tuple[float, float]:
    if rng.random() < 0.8:
        return rng.gauss(CENTRE[0], 0.08), rng.gauss(CENTRE[1], 0.10)
    return rng.uniform(39.45, 41.0), rng.uniform(115.45, 117.45)


async def seed(db: Database, count: int) -> None:
    rng = random.Random(3)
    today = date.today()
    rows, hours = [], []
    for n in range(count):
        lat, lon = _point(rng)
        spec, intervals = rng.choices(HOURS, weights=[5, 3, 1.5, 0.5])[0]
        aed_id = uuid.uuid4()
        rows.append(
            (
                aed_id,
                f"B-{n:06d}",
                lat,
                lon,
                spec,
                spec == "24/7",
                rng.choices(["working", "out_of_service", "temporarily_absent"], weights=[90, 7, 3])[0],
                rng.choices(["public", "customers", "staff"], weights=[80, 12, 8])[0],
                today + timedelta(days=rng.randint(-60, 900)),
                today + timedelta(days=rng.randint(-60, 900)),
            )
        )
        for weekday, opens, closes in intervals or []:
            hours.append((aed_id, weekday, opens, closes))
    async with db.transaction() as session:
        for chunk in range(0, count, 10_000):
            part = rows[chunk : chunk + 10_000]
            await session.execute(
                text("""
                INSERT INTO aeds (id, serial, name, lat, lon, address, district, indoor, access, opening_hours,
                                  always_open, status, battery_expires_on, adult_pads_expires_on, created_at,
                                  updated_at, updated_by)
                SELECT i, s, '设备', la, lo, '地址', '110105', true, ac, oh, ao, st, b, p, now(), now(), 'bench'
                FROM unnest(CAST(:i AS uuid[]), CAST(:s AS text[]), CAST(:la AS float8[]), CAST(:lo AS float8[]),
                            CAST(:oh AS text[]), CAST(:ao AS boolean[]), CAST(:st AS text[]), CAST(:ac AS text[]),
                            CAST(:b AS date[]), CAST(:p AS date[])) AS t(i, s, la, lo, oh, ao, st, ac, b, p)"""),
                {
                    "i": [r[0] for r in part],
                    "s": [r[1] for r in part],
                    "la": [r[2] for r in part],
                    "lo": [r[3] for r in part],
                    "oh": [r[4] for r in part],
                    "ao": [r[5] for r in part],
                    "st": [r[6] for r in part],
                    "ac": [r[7] for r in part],
                    "b": [r[8] for r in part],
                    "p": [r[9] for r in part],
                },
            )
        for chunk in range(0, len(hours), 50_000):
            week = hours[chunk : chunk + 50_000]
            await session.execute(
                text(
                    "INSERT INTO aed_hours SELECT * FROM unnest(CAST(:a AS uuid[]), CAST(:w AS smallint[]),"
                    " CAST(:o AS time[]), CAST(:c AS time[]))"
                ),
                {
                    "a": [h[0] for h in week],
                    "w": [h[1] for h in week],
                    "o": [datetime.strptime(h[2], "%H:%M").time() for h in week],
                    "c": [datetime.strptime(h[3], "%H:%M").time() for h in week],
                },
            )
    async with db.engine.connect() as conn:
        await conn.execute(text("COMMIT"))
        await conn.execute(text("VACUUM ANALYZE aeds"))
        await conn.execute(text("VACUUM ANALYZE aed_hours"))


async def service_round(db: Database, points, settings: AedSettings) -> list[float]:
    timings = []
    for lat, lon in points:
        began = time.perf_counter()
        async with db.transaction() as session:
            await lookup.nearest(
                session,
                geo.Point(lat, lon),
                limit=5,
                radius_m=settings.lookup_max_radius_m,
                open_now=True,
                holidays=set(settings.public_holidays),
                now=datetime.now(UTC),
            )
        timings.append((time.perf_counter() - began) * 1000)
    return timings


async def raw_round(conn: asyncpg.Connection, points, settings: AedSettings) -> list[float]:
    """The very SQL the service runs, on a bare asyncpg connection (prepared, same parameters)."""
    names = ["lat", "lon", "radius", "limit", "today", "dow", "yesterday", "t", "holiday", "open_now"]
    positional = repo._NEAREST.text
    for name in sorted(names, key=len, reverse=True):  # :name -> $n, longest first so :t does not eat :today
        positional = positional.replace(f":{name}", f"${names.index(name) + 1}")
    statement = await conn.prepare(positional)
    timings = []
    for lat, lon in points:
        local = datetime.now(lookup.BEIJING)
        began = time.perf_counter()
        async with conn.transaction():
            await conn.execute("SET LOCAL enable_bitmapscan = off")
            await statement.fetch(
                lat,
                lon,
                settings.lookup_max_radius_m,
                5,
                local.date(),
                local.isoweekday(),
                7 if local.isoweekday() == 1 else local.isoweekday() - 1,
                local.time().replace(tzinfo=None),
                local.date() in set(settings.public_holidays),
                True,
            )
        timings.append((time.perf_counter() - began) * 1000)
    return timings


async def lookup_bench(infra, args) -> None:
    settings = AedSettings()
    url = infra.create_database("aed_bench")
    await asyncio.to_thread(upgrade_to_head, settings.migrations_path, url)
    db = Database(url, pool_size=4)
    slow = unindexed_database(url)
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        began = time.perf_counter()
        await seed(db, args.devices)
        print(f"seeded {args.devices:,} devices in {time.perf_counter() - began:.1f} s")
        rng = random.Random(9)
        await service_round(db, [_point(rng) for _ in range(50)], settings)  # warm-up
        svc, raw, brute = [], [], []
        for round_ in range(args.rounds):
            points = [_point(rng) for _ in range(args.queries)]
            s = await service_round(db, points, settings)
            r = await raw_round(conn, points, settings)
            b = await service_round(slow, points[: args.brute_queries], settings)
            svc.append((pct(s, 0.5), pct(s, 0.99)))
            raw.append((pct(r, 0.5), pct(r, 0.99)))
            brute.append((pct(b, 0.5), pct(b, 0.99)))
            print(
                f"round {round_ + 1}: service p50 {svc[-1][0]:.2f} p99 {svc[-1][1]:.2f} ms; raw SQL p50 "
                f"{raw[-1][0]:.2f} p99 {raw[-1][1]:.2f} ms; without the index p50 {brute[-1][0]:.1f} "
                f"p99 {brute[-1][1]:.1f} ms"
            )
        s50, s99 = median([x[0] for x in svc]), median([x[1] for x in svc])
        r50, r99 = median([x[0] for x in raw]), median([x[1] for x in raw])
        b50, b99 = median([x[0] for x in brute]), median([x[1] for x in brute])
        print(f"\nnearest 5 usable-now AEDs among {args.devices:,} (median of {args.rounds} rounds):")
        print(f"  service-side: p50 {s50:.2f} ms, p99 {s99:.2f} ms (target p99 <= 10 ms: {s99 / 10:.2f} of the budget)")
        print(
            f"  same SQL on a bare connection: p50 {r50:.2f} ms, p99 {r99:.2f} ms -> service overhead "
            f"{s50 / r50:.2f}x at p50"
        )
        print(
            f"  brute force (no index): p50 {b50:.1f} ms, p99 {b99:.1f} ms -> index speed-up {b50 / s50:.0f}x at p50, "
            f"{b99 / s99:.0f}x at p99"
        )
        report(
            Figure(
                "aed",
                f"nearest 5 usable AEDs among {args.devices:,}, p99",
                f"{s99:.2f} ms (bare SQL {r99:.2f}, no index {b99:.0f})",
                "budget 10 ms",
                s99 / 10,
                1,
                at_most=True,
            )
        )
    finally:
        await conn.close()
        await db.dispose()
        await slow.dispose()


async def put_on_duty(session, person: uuid.UUID, position: tuple[float, float]) -> None:
    """A certified responder on duty at `position`, straight into svc-aed's projection (no identity behind)."""
    await session.execute(text("INSERT INTO responders VALUES (:p, true, now() + interval '1 year')"), {"p": person})
    await session.execute(
        text("INSERT INTO duty VALUES (:p, :la, :lo, now() + interval '1 day')"),
        {"p": person, "la": position[0], "lo": position[1]},
    )


async def sos_bench(infra, args) -> None:
    stack = bench_stack(
        infra,
        {
            "IDENTITY_ACCESS_TOKEN_TTL_S": "7200",
            "AED_WAVE_INTERVAL_S": "3600",
            **dict(e.split("=", 1) for e in args.env),
        },
    )
    try:
        stack.seed_demo()
        async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=10) as gateway:
            token = (await gateway.post("/api/v1/auth/wechat-login", json={"code": "dev-bench-caller"})).json()[
                "access_token"
            ]
        aed_db = Database(stack.database_url["aed"], pool_size=2)
        rng = random.Random(4)
        async with aed_db.transaction() as session:  # responders on duty (the projection, seeded directly)
            for _ in range(args.responders):
                await put_on_duty(session, uuid.uuid4(), _point(rng))
        await aed_db.dispose()
        consumer = AIOKafkaConsumer(
            "aed.events",
            bootstrap_servers=stack.kafka_bootstrap_servers,
            group_id=f"bench-{uuid.uuid4().hex[:6]}",
            auto_offset_reset="latest",
            fetch_max_wait_ms=5,
        )  # see the event as soon as it is on the broker
        await consumer.start()
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=200)
        await consumer.seek_to_end()
        first_alert: dict[str, float] = {}
        produced_at: dict[str, float] = {}  # the record's timestamp (ms), set by the relay's producer

        async def listen() -> None:
            async for record in consumer:
                event = CloudEvent.from_bytes(record.value)
                if event.type.endswith("incident.step") and event.data.get("step") == "alerted":
                    first_alert.setdefault(event.data["incident_id"], time.perf_counter())
                    produced_at.setdefault(event.data["incident_id"], record.timestamp)

        listener = asyncio.create_task(listen())
        rounds = []
        async with httpx.AsyncClient(
            base_url=stack.url("aed"), timeout=10, headers={"Authorization": f"Bearer {token}"}
        ) as aed:
            await aed.get("/healthz")  # the bench's own connection opened before the clock runs
            gc.collect()
            gc.freeze()  # nor do the bench's own full collections land on the clock
            for round_ in range(args.rounds):
                latencies, accepted_ms, produced_ms = [], [], []
                for _ in range(args.incidents):
                    lat, lon = rng.gauss(CENTRE[0], 0.05), rng.gauss(CENTRE[1], 0.06)
                    began, began_wall = time.perf_counter(), time.time()
                    response = await aed.post("/api/v1/incidents", json={"position": {"lat": lat, "lon": lon}})
                    answered = time.perf_counter()
                    incident = response.json()["id"]
                    if not response.json()["alerts"]:
                        continue  # nobody within reach: no alert to time
                    deadline = began + 5
                    while incident not in first_alert and time.perf_counter() < deadline:
                        await asyncio.sleep(0.001)
                    if incident in first_alert:
                        latencies.append((first_alert[incident] - began) * 1000)
                        accepted_ms.append((answered - began) * 1000)
                        produced_ms.append(produced_at[incident] - began_wall * 1000)
                figures = [pct(values, q) for values in (latencies, accepted_ms, produced_ms) for q in (0.5, 0.99)]
                rounds.append(figures)
                print(
                    f"round {round_ + 1}: SOS -> first alert on Kafka ({len(latencies)} incidents) p50 {figures[0]:.1f} ms, "
                    f"p99 {figures[1]:.1f} ms; SOS answered p50 {figures[2]:.1f}, p99 {figures[3]:.1f}; "
                    f"record stamped by the relay's producer p50 {figures[4]:.1f}, p99 {figures[5]:.1f}"
                )
        listener.cancel()
        await consumer.stop()
        m = [median([r[i] for r in rounds]) for i in range(6)]
        print(
            f"\nSOS -> first responder alert on Kafka (median of {args.rounds} rounds x {args.incidents} SOS): "
            f"p50 {m[0]:.1f} ms, p99 {m[1]:.1f} ms (target p99 <= 100 ms: {m[1] / 100:.2f} of the budget)"
        )
        print(
            f"  of which: SOS answered (HTTP response) p50 {m[2]:.1f} ms, p99 {m[3]:.1f} ms; record stamped by the "
            f"relay's producer p50 {m[4]:.1f} ms, p99 {m[5]:.1f} ms"
        )
        report(
            Figure(
                "aed",
                "SOS → first responder alert on Kafka, p99",
                f"{m[1]:.1f} ms (p50 {m[0]:.1f})",
                "budget 100 ms",
                m[1] / 100,
                1,
                at_most=True,
            )
        )
    finally:
        stack.stop()


async def main(args: argparse.Namespace) -> None:
    with embedded_infra() as infra:
        if not args.sos_only:
            await lookup_bench(infra, args)
        if not args.lookup_only:
            await sos_bench(infra, args)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--brute-queries", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--responders", type=int, default=2000)
    parser.add_argument("--incidents", type=int, default=200)
    parser.add_argument("--lookup-only", action="store_true")
    parser.add_argument("--sos-only", action="store_true")
    parser.add_argument("--env", action="append", default=[], help="NAME=value for the running stack (diagnostics)")
    asyncio.run(main(parser.parse_args()))
