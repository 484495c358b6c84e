"""Event backbone throughput: events/s from outbox commit to the consumer's effect committed, against raw
aiokafka produce -> consume of the same events on the same broker, in the same run. Target >= 0.5.

Both sides have a consumer group already joined and idle, and the same producer tuning. Backbone: the
events are committed to the outbox first (as use cases would, 100 per transaction); the relay runs in this
process (the producing service) and the idempotent consumer in another (the consuming service), as in the
real system; the clock starts when the relay starts and stops when the consuming process's commit of the
last event's effect returns (the raw consumer likewise stops its own clock), and the effects are counted in
the database after the clock. Two consumers are measured: a per-event handler (what the ledger's handlers
are) and a batch handler (what projections such as the audit trail use). Raw: the clock starts at the first
send and stops when the last event is consumed and its offset committed.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import time
import uuid

import uvloop
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from bench._harness import embedded_infra, median, wait_count
from bench._results import Figure, report
from servicekit.consumer import EventConsumer
from servicekit.db import Database
from servicekit.events import CloudEvent, record_event
from servicekit.kafka import ensure_topics
from servicekit.migrations import create_messaging_tables, create_outbox_marks
from servicekit.outbox import OutboxRelay
from servicekit.settings import ServiceSettings

TYPE = "timebank.bench.thing.happened"
# Both consumers fetch with the same wait: the one a consumer on the life-critical path uses (identity's).
FETCH_WAIT_MS = 50


def _event(n: int) -> CloudEvent:
    return CloudEvent(
        source="bench",
        type=TYPE,
        subject=f"aggregate-{n % 1000}",
        dataschema=f"urn:timebank:schema:{TYPE}:v1",
        data={"n": n, "person_id": str(uuid.uuid4()), "minutes": 60, "note": "x" * 120},
    )


def _tables(connection) -> None:
    with Operations.context(MigrationContext.configure(connection)):
        create_messaging_tables()
        create_outbox_marks()
    connection.exec_driver_sql("CREATE TABLE effects (event_id uuid PRIMARY KEY, n int NOT NULL)")


async def _wait_joined(consumer: AIOKafkaConsumer) -> None:
    while not consumer.assignment():
        await consumer.getmany(timeout_ms=200)


async def _consume_raw(bootstrap: str, topic: str, count: int, joined, finished) -> None:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"g-{topic}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=2000,
        heartbeat_interval_ms=300,
        max_poll_records=ServiceSettings().consumer_batch_size,
        fetch_max_wait_ms=FETCH_WAIT_MS,
    )
    await consumer.start()
    await _wait_joined(consumer)
    joined.set()
    seen = 0
    while seen < count:
        batches = await consumer.getmany(timeout_ms=500, max_records=ServiceSettings().consumer_batch_size)
        seen += sum(len(records) for records in batches.values())
        if batches:
            await consumer.commit({tp: records[-1].offset + 1 for tp, records in batches.items()})
    finished.value = time.time()
    await consumer.stop()


def _raw_consumer_process(bootstrap: str, topic: str, count: int, joined, finished) -> None:
    uvloop.run(_consume_raw(bootstrap, topic, count, joined, finished))


async def raw_round(bootstrap: str, events: list[CloudEvent]) -> float:
    """Producer here, consumer in its own process: the same layout as the backbone round."""
    topic = f"raw-{uuid.uuid4().hex[:6]}"
    settings = ServiceSettings(kafka_bootstrap_servers=bootstrap)
    await ensure_topics(settings, [topic])
    context = multiprocessing.get_context("spawn")
    joined, finished = context.Event(), context.Value("d", 0.0)
    reader = context.Process(
        target=_raw_consumer_process, daemon=True, args=(bootstrap, topic, len(events), joined, finished)
    )
    reader.start()
    await asyncio.to_thread(joined.wait, 60)
    # The same producer tuning the relay uses (acks, linger, batch size): the anchor is not handicapped.
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=2, max_batch_size=settings.kafka_max_batch_bytes
    )
    await producer.start()
    payloads = [(e.subject.encode(), e.to_bytes()) for e in events]
    started = time.time()
    futures = [await producer.send(topic, value=v, key=k) for k, v in payloads]
    await asyncio.gather(*futures)
    await asyncio.to_thread(reader.join, 120)
    await producer.stop()
    return len(events) / (finished.value - started)


async def _consume_effects(
    url: str, bootstrap: str, topic: str, group: str, batch: bool, joined, go, count: int, finished
) -> None:
    """The consuming service: its own process, as in the real system (identity's relay -> ledger's consumer).
    `finished` gets the moment the commit of the `count`th effect returned. Polling the effects table for that
    moment instead put a count over the growing table on the measured database every 20 ms."""
    settings = ServiceSettings(
        service_name=group, database_url=url, kafka_bootstrap_servers=bootstrap, kafka_fetch_max_wait_ms=FETCH_WAIT_MS
    )
    db = Database(url, pool_size=2)
    written: set[uuid.UUID] = set()  # by the transaction under way; a rolled-back one's are written again
    committed: set[uuid.UUID] = set()

    def after_commit() -> None:
        committed.update(written)
        written.clear()
        if len(committed) >= count and not finished.value:
            finished.value = time.monotonic()

    db.on_commit(after_commit)

    async def effect(session, event: CloudEvent) -> None:
        await session.execute(
            text("INSERT INTO effects (event_id, n) VALUES (:id, :n)"), {"id": event.id, "n": event.data["n"]}
        )
        written.add(event.id)

    async def effects(session, events: list[CloudEvent]) -> None:  # one statement, as the services' projections
        await session.execute(
            text("INSERT INTO effects SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:ns AS int[]))"),
            {"ids": [e.id for e in events], "ns": [e.data["n"] for e in events]},
        )
        written.update(e.id for e in events)

    consumer = (
        EventConsumer(name=group, topics=[topic], db=db, settings=settings, batch_handlers={TYPE: effects})
        if batch
        else EventConsumer(name=group, topics=[topic], db=db, settings=settings, handlers={TYPE: effect})
    )
    await consumer._open()
    await _wait_joined(consumer.consumer)
    joined.set()
    await asyncio.to_thread(go.wait)
    await consumer.pump()  # the loop a service's consumer runs (EventConsumer.start)


def _consumer_process(
    url: str, bootstrap: str, topic: str, group: str, batch: bool, joined, go, count: int, finished
) -> None:
    uvloop.run(_consume_effects(url, bootstrap, topic, group, batch, joined, go, count, finished))


async def _wait_finished(finished, timeout: float = 600) -> float:
    deadline = time.monotonic() + timeout
    while not finished.value:
        if time.monotonic() > deadline:
            raise SystemExit(f"the consumer did not finish within {timeout}s")
        await asyncio.sleep(0.002)
    return finished.value


async def backbone_round(infra, events: list[CloudEvent], *, batch: bool, stage: str = "both") -> float:
    """`stage`: "both", the figure; or one stage alone, to see which one bounds it: "relay" (no consumer; the
    clock stops when every row is marked published) or "consumer" (the events on the topic before the clock)."""
    url = infra.create_database("bench")
    name = f"bench{uuid.uuid4().hex[:6]}"
    settings = ServiceSettings(
        service_name=name,
        database_url=url,
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        outbox_batch_size=2000,
        outbox_poll_interval_s=0.05,
    )
    db = Database(url, pool_size=5)
    async with db.engine.begin() as conn:
        await conn.run_sync(_tables)
    await ensure_topics(settings, [settings.own_topic])
    for i in range(0, len(events), 100):  # use cases committing their events, 100 per transaction
        async with db.transaction() as session:
            for event in events[i : i + 100]:
                await record_event(session, topic=settings.own_topic, event=event)
    context = multiprocessing.get_context("spawn")
    joined, go, finished = context.Event(), context.Event(), context.Value("d", 0.0)
    consumer = context.Process(
        target=_consumer_process,
        daemon=True,
        args=(
            url,
            infra.kafka_bootstrap_servers,
            settings.own_topic,
            f"{name}-consumer",
            batch,
            joined,
            go,
            len(events),
            finished,
        ),
    )
    if stage != "relay":
        consumer.start()
        await asyncio.to_thread(joined.wait, 60)
    relay = OutboxRelay(db, settings)
    await relay.connect()  # as the raw producer is started before its clock
    # 1 once nothing is pending: one probe of the pending index, where counting the published rows read every
    # payload (6–7 ms at 20,000 rows, every 20 ms: a third of a core taken from the relay being timed).
    all_published = "SELECT (NOT EXISTS (SELECT FROM outbox WHERE published_at IS NULL))::int"
    if stage == "consumer":
        await relay.start()
        await wait_count(url, all_published, 1)
    started = time.monotonic()
    go.set()
    if stage != "consumer":
        await relay.start()
    if stage == "relay":
        elapsed = await wait_count(url, all_published, 1, interval=0.02) - started
    else:
        elapsed = await _wait_finished(finished) - started
        consumer.terminate()
        consumer.join(10)
        # Every effect is in the table once the clock has stopped (a check, not timed).
        await wait_count(url, "SELECT count(*) FROM effects", len(events), timeout=5)
    await relay.stop()
    await db.dispose()
    return len(events) / elapsed


async def run(rounds: int, count: int, stages: bool) -> int:
    events = [_event(n) for n in range(count)]
    with embedded_infra() as infra:
        raw, batched, single, relay, consumer = [], [], [], [], []
        for _ in range(rounds):
            raw.append(await raw_round(infra.kafka_bootstrap_servers, events))
            batched.append(await backbone_round(infra, events, batch=True))
            single.append(await backbone_round(infra, events, batch=False))
            if stages:
                relay.append(await backbone_round(infra, events, batch=True, stage="relay"))
                consumer.append(await backbone_round(infra, events, batch=True, stage="consumer"))
    r, b, s = median(raw), median(batched), median(single)
    print(f"{count} events (~{len(events[0].to_bytes())} B), {rounds} rounds, medians")
    print(f"  raw aiokafka produce->consume                 : {r:8.0f} events/s  rounds {[round(x) for x in raw]}")
    print(f"  outbox -> effect, batch handler (projection)  : {b:8.0f} events/s  rounds {[round(x) for x in batched]}")
    print(f"  outbox -> effect, per-event handler           : {s:8.0f} events/s  rounds {[round(x) for x in single]}")
    print(f"  per-event handler / raw = {s / r:.2f} (no floor: fast handlers are batch handlers)")
    for label, alone in (
        ("the relay alone (outbox -> acked)", relay),
        ("the consumer alone (batch handler)", consumer),
    ):
        if alone:
            a = median(alone)
            print(f"  {label:46s}: {a:8.0f} events/s  {a / r:.2f} x raw  rounds {[round(x) for x in alone]}")
    report(
        Figure(
            "backbone",
            "outbox → effect, batch handler",
            f"{b:,.0f} events/s",
            f"raw aiokafka {r:,.0f} events/s",
            b / r,
            0.5,
        )
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--stages", action="store_true", help="also time the relay alone and the consumer alone")
    args = parser.parse_args()
    # The services run on uvloop (uvicorn[standard]); so does the benchmark, both sides alike.
    return uvloop.run(run(args.rounds, args.events, args.stages))


if __name__ == "__main__":
    sys.exit(main())
