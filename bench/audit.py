"""Audit pipeline throughput: events/s through the whole audit pipeline — consume, append to the hash chain,
evaluate every fraud rule (the judge following the trail, as the service runs it), commit — against raw aiokafka consumption of the same events on the same broker
in the same run (alternating rounds). Target >= 0.5 x raw.

The events are devstack.fraud's simulated weeks (completed services with their sign-in/out trail, gifts,
residences; honest and fraudulent), produced to fresh topics after the consumer has joined, the same way
for both: the clock runs from the first send to the last event consumed (raw) or committed (audit).
Throughput is a steady-state figure: before the clock, both sides consume a small warm-up stream (a week of
another town), so the audit pipeline runs as a service that has been running — its connections have
prepared their statements, which a service just started does once per connection (`--cold` skips it).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import text

from audit.events import audit_consumer, collect_less_often
from audit.judging import Judge
from audit.settings import AuditSettings
from bench._harness import CpuMeter, embedded_infra, median
from bench._results import Figure, report
from devstack import fraud
from servicekit import heap
from servicekit.db import Database
from servicekit.events import CloudEvent
from servicekit.kafka import ensure_topics
from servicekit.migrations import upgrade_to_head


async def _produce(bootstrap: str, topics: dict[str, str], events: list[CloudEvent], settings: AuditSettings) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=2, max_batch_size=settings.kafka_max_batch_bytes
    )
    await producer.start()
    try:
        futures = [await producer.send(topics[e.source], value=e.to_bytes(), key=e.subject.encode()) for e in events]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def _topics(settings: AuditSettings) -> dict[str, str]:
    run = uuid.uuid4().hex[:6]
    topics = {source: f"bench-{run}-{source}.events" for source in ("identity", "ledger", "matching")}
    await ensure_topics(settings, list(topics.values()))
    return topics


async def raw_round(
    bootstrap: str, events: list[CloudEvent], settings: AuditSettings, warm_up: list[CloudEvent]
) -> tuple[float, tuple[float, float]]:
    """Events/s, and the CPU seconds meanwhile of this process (the bench's producer and the raw consumer)
    and of the broker. The `warm_up` events are produced and consumed first, off the clock."""
    topics = await _topics(settings)
    consumer = AIOKafkaConsumer(
        *topics.values(),
        bootstrap_servers=bootstrap,
        group_id=f"raw-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=2000,
        heartbeat_interval_ms=300,
        max_poll_records=settings.consumer_batch_size,
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,  # as the audit consumer's: neither side waits more
    )
    await consumer.start()
    while not consumer.assignment():
        await consumer.getmany(timeout_ms=200)

    async def consume(count: int) -> None:
        seen = 0
        while seen < count:
            batches = await consumer.getmany(timeout_ms=500, max_records=settings.consumer_batch_size)
            seen += sum(len(records) for records in batches.values())
            if batches:
                await consumer.commit({tp: records[-1].offset + 1 for tp, records in batches.items()})

    if warm_up:
        await _produce(bootstrap, topics, warm_up, settings)
        await consume(len(warm_up))
    meter = CpuMeter()
    meter.start()
    started = time.perf_counter()
    producing = asyncio.create_task(_produce(bootstrap, topics, events, settings))
    await consume(len(events))
    elapsed, (cpu, _, broker_cpu) = time.perf_counter() - started, meter.stop()
    await producing
    await consumer.stop()
    return len(events) / elapsed, (cpu, broker_cpu)


async def audit_round(
    infra, events: list[CloudEvent], settings: AuditSettings, warm_up: list[CloudEvent]
) -> tuple[float, int, tuple[float, float, float]]:
    """Events/s, alerts raised, and the CPU seconds meanwhile of this process (the bench's producer and the
    pipeline), of PostgreSQL and of the broker. The `warm_up` events go through the whole pipeline first, off
    the clock, as through a service that has been running: its connections have prepared their statements."""
    url = infra.create_database("audit_bench")
    await asyncio.to_thread(upgrade_to_head, settings.migrations_path, url)
    round_settings = settings.model_copy(update={"database_url": url})
    db = Database(url, pool_size=round_settings.database_pool_size)  # as the service makes it
    topics = await _topics(settings)
    consumer = audit_consumer(db, round_settings, name=f"audit-{uuid.uuid4().hex[:6]}", topics=list(topics.values()))
    judge = Judge(db, round_settings)  # as the service runs it: woken by each commit of the trail
    db.on_commit(judge.wake)
    await consumer.connect()
    await db.warm(min(4, round_settings.database_pool_size))  # as the service does at start (servicekit.app)
    if warm_up:
        await _produce(infra.kafka_bootstrap_servers, topics, warm_up, settings)
        await consumer.pump(until=len(warm_up))
        await judge.catch_up()
    async with db.transaction() as session:
        alerts_before = (await session.execute(text("SELECT count(*) FROM alerts"))).scalar_one()
    meter = CpuMeter()
    meter.start()
    started = time.perf_counter()
    producing = asyncio.create_task(_produce(infra.kafka_bootstrap_servers, topics, events, settings))
    judging = asyncio.create_task(judge.run())
    await consumer.pump(until=len(events))
    judged = await judge.catch_up()  # the clock stops when every rule has judged the last event
    elapsed = time.perf_counter() - started
    cpu = meter.stop()
    judging.cancel()
    await asyncio.gather(judging, return_exceptions=True)
    await producing
    await consumer.stop()
    async with db.transaction() as session:
        recorded = (await session.execute(text("SELECT count(*) FROM audit_log"))).scalar_one()
        alerts = (await session.execute(text("SELECT count(*) FROM alerts"))).scalar_one()
    await db.dispose()
    # Dropped, so autovacuum does not visit it during the next rounds (the rounds' PostgreSQL CPU rose by a fifth).
    assert infra.postgres is not None  # the bench's own embedded server
    infra.postgres.psql(f'DROP DATABASE "{url.rsplit("/", 1)[1]}"')
    if recorded != len(warm_up) + len(events) or judged != recorded:
        raise SystemExit(
            f"the trail holds {recorded} of {len(warm_up)} + {len(events)} events, {judged} judged"
            " — the benchmark is invalid"
        )
    return len(events) / elapsed, alerts - alerts_before, cpu


async def main(args: argparse.Namespace) -> None:
    scenario = fraud.generate(weeks=args.weeks, honest_volunteers=args.volunteers, elders=args.elders)
    events = scenario.events
    kinds: dict[str, int] = {}
    for e in events:
        kinds[e.type.rsplit(".", 2)[-2]] = kinds.get(e.type.rsplit(".", 2)[-2], 0) + 1
    print(
        f"{len(events):,} events ({', '.join(f'{k} {v:,}' for k, v in sorted(kinds.items()))}), "
        f"~{sum(len(e.to_bytes()) for e in events) // len(events)} B each"
    )
    # Off the clock, before each round on both sides: a week of another town's events (other people, other ids).
    warm_up = [] if args.cold else fraud.generate(seed=7, weeks=1, honest_volunteers=60, elders=40).events
    with embedded_infra() as infra:
        settings = AuditSettings(kafka_bootstrap_servers=infra.kafka_bootstrap_servers)
        # As the service does once started: both sides of the ratio run in this one process.
        collect_less_often(settings)
        heap.settle()
        raw, piped = [], []
        for round_ in range(args.rounds):
            rate, (raw_cpu, raw_broker) = await raw_round(infra.kafka_bootstrap_servers, events, settings, warm_up)
            raw.append(rate)
            rate, alerts, (own_cpu, pg_cpu, broker_cpu) = await audit_round(infra, events, settings, warm_up)
            piped.append(rate)
            print(
                f"round {round_ + 1}: raw {raw[-1]:,.0f} events/s, audit pipeline {piped[-1]:,.0f} events/s "
                f"({alerts} alerts) -> {piped[-1] / raw[-1]:.2f}  | CPU s raw/audit: this process {raw_cpu:.2f}/"
                f"{own_cpu:.2f}, broker {raw_broker:.2f}/{broker_cpu:.2f}, PostgreSQL -/{pg_cpu:.2f}; wall "
                f"{len(events) / raw[-1]:.2f}/{len(events) / rate:.2f}"
            )
        print(
            f"\naudit pipeline (consume, chain, every rule, commit): median {median(piped):,.0f} events/s; raw aiokafka "
            f"median {median(raw):,.0f} events/s"
        )
        report(
            Figure(
                "audit",
                "audit pipeline: consume, chain, every rule, commit",
                f"{median(piped):,.0f} events/s",
                f"raw aiokafka {median(raw):,.0f} events/s",
                median(piped) / median(raw),
                0.5,
            )
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--weeks", type=int, default=8)
    parser.add_argument("--volunteers", type=int, default=600)
    parser.add_argument("--elders", type=int, default=400)
    parser.add_argument(
        "--cold",
        action="store_true",
        help="no warm-up: each round starts on a service just started "
        "(its connections prepare every statement on first use), as the bench ran until session 7",
    )
    asyncio.run(main(parser.parse_args()))
