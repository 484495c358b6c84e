import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer
from sqlalchemy import text

from servicekit import outbox
from servicekit.events import CloudEvent, record_event, record_events
from servicekit.kafka import ensure_topics
from servicekit.outbox import OutboxRelay


def _event(subject: str, n: int) -> CloudEvent:
    return CloudEvent(
        source="test",
        type="timebank.test.thing.happened",
        subject=subject,
        dataschema="urn:timebank:schema:timebank.test.thing.happened:v1",
        data={"n": n},
    )


async def _published(kit) -> list[int]:
    """The `n` of every event marked published, in id order."""
    async with kit.db.transaction() as session:
        payloads = (
            await session.execute(text("SELECT payload FROM outbox WHERE published_at IS NOT NULL ORDER BY id"))
        ).scalars()
        return [CloudEvent.from_bytes(p.encode()).data["n"] for p in payloads]


async def test_a_key_is_published_only_up_to_a_row_another_relay_holds_or_one_backing_off(kit):
    settings, db = kit
    await ensure_topics(settings, [settings.own_topic])
    async with db.transaction() as session:  # n: 0 a, 1 a, 2 b, 3 a, 4 c, 5 c, 6 b
        for n, key in enumerate("aabaccb"):
            await record_event(session, topic=settings.own_topic, event=_event(key, n))
    n_is = "payload::jsonb #>> '{data,n}'"
    await kit.scalar(f"UPDATE outbox SET next_attempt_at = now() + interval '1 hour' WHERE {n_is} = '2' RETURNING 1")
    relay = OutboxRelay(db, settings)
    await relay.connect()
    try:
        async with db.transaction() as other_relay:  # holds a's second row (n=1) and c's first (n=4)
            await other_relay.execute(text(f"SELECT id FROM outbox WHERE {n_is} IN ('1', '4') FOR UPDATE"))
            # a: n=3 waits behind the held n=1; c: n=5 behind the held n=4; b: n=6 behind n=2, backing off.
            assert await relay.publish_pending() == 1
            assert await _published(kit) == [0]
        assert await relay.publish_pending() == 4  # released: a and c, in order
        assert await _published(kit) == [0, 1, 3, 4, 5]
        await kit.scalar(f"UPDATE outbox SET next_attempt_at = now() WHERE {n_is} = '2' RETURNING 1")
        assert await relay.publish_pending() == 2
        events = await _consume(settings, settings.own_topic, 7)
    finally:
        await relay.stop()
    for key in "abc":
        ns = [e.data["n"] for e in events if e.subject == key]
        assert ns == sorted(ns)


def _nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


async def test_a_claim_reads_its_own_rows_not_the_whole_backlog_whatever_the_statistics(kit):
    """A backlog on a table whose statistics predate it (never analyzed here, as after an outage): the claim walks
    the pending rows in id order and stops at its limit, instead of collecting and sorting every pending row."""
    settings, db = kit
    async with db.transaction() as session:
        await record_events(session, topic=settings.own_topic, events=[(_event("k", n), None) for n in range(300)])
    async with db.transaction() as session:
        await session.execute(outbox._ROUND_PLANNING)
        explained = await session.execute(text(f"EXPLAIN (ANALYZE, FORMAT JSON) {outbox._CLAIM.text}"), {"limit": 10})
        plan = explained.scalar_one()[0]["Plan"]
    nodes = list(_nodes(plan))
    assert [n["Node Type"] for n in nodes if n["Node Type"] == "Sort"] == []
    scans = [n for n in nodes if n["Node Type"].endswith("Scan")]
    assert scans and [n["Actual Rows"] for n in scans] == [10] * len(scans)


async def _consume(settings, topic: str, count: int, timeout: float = 20.0) -> list[CloudEvent]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=f"reader-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    seen: list[CloudEvent] = []
    try:
        async with asyncio.timeout(timeout):
            while len(seen) < count:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    seen += [CloudEvent.from_bytes(r.value) for r in records]
    finally:
        await consumer.stop()
    return seen


async def test_relay_publishes_committed_events_in_key_order(kit):
    settings, db = kit
    await ensure_topics(settings, [settings.own_topic])
    for n in range(30):
        async with db.transaction() as session:
            await record_event(session, topic=settings.own_topic, event=_event(f"agg-{n % 3}", n))
    relay = OutboxRelay(db, settings)
    await relay.start()
    try:
        events = await _consume(settings, settings.own_topic, 30)
    finally:
        await relay.stop()
    for key in ("agg-0", "agg-1", "agg-2"):
        ns = [e.data["n"] for e in events if e.subject == key]
        assert ns == sorted(ns) and len(ns) == 10
    assert await kit.scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0


async def test_rolled_back_use_case_publishes_nothing(kit):
    settings, db = kit
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            await record_event(session, topic=settings.own_topic, event=_event("x", 1))
            raise RuntimeError("use case failed")
    assert await kit.scalar("SELECT count(*) FROM outbox") == 0


async def test_broker_outage_keeps_events_pending_with_backoff_then_publishes(kit, infra):
    settings, db = kit
    dead = settings.model_copy(update={"kafka_bootstrap_servers": "127.0.0.1:1"})
    async with db.transaction() as session:
        await record_event(session, topic=settings.own_topic, event=_event("k", 1))
    relay = OutboxRelay(db, dead)
    await relay.start()
    await asyncio.sleep(1.5)
    await relay.stop()
    assert await kit.scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 1

    await ensure_topics(settings, [settings.own_topic])
    relay = OutboxRelay(db, settings)
    await relay.start()
    try:
        events = await _consume(settings, settings.own_topic, 1)
    finally:
        await relay.stop()
    assert events[0].data == {"n": 1}
    assert await kit.scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0


class _GatedRelay(OutboxRelay):
    """Its first round, having found nothing to publish, waits to be released before it ends — as if a
    commit landed just after the round's claim. Counts its rounds."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.first_round_done, self.release, self.rounds = asyncio.Event(), asyncio.Event(), 0

    async def publish_pending(self) -> int:
        self.rounds += 1
        published = await super().publish_pending()
        if self.rounds == 1:
            self.first_round_done.set()
            await self.release.wait()
        return published


async def test_a_commit_during_a_relay_round_is_published_without_waiting_for_the_poll(kit):
    settings, db = kit
    settings = settings.model_copy(update={"outbox_poll_interval_s": 3600})  # only commits wake the relay
    await ensure_topics(settings, [settings.own_topic])
    relay = _GatedRelay(db, settings)
    await relay.start()
    try:
        await asyncio.wait_for(relay.first_round_done.wait(), 10)
        async with db.transaction() as session:  # commits after the first round's claim saw nothing
            await record_event(session, topic=settings.own_topic, event=_event("late", 1))
        relay.release.set()
        events = await _consume(settings, settings.own_topic, 1)
        assert [e.data["n"] for e in events] == [1]
        # Idle, it waits: its own bookkeeping commits do not wake it again.
        rounds = relay.rounds
        await asyncio.sleep(0.5)
        assert relay.rounds <= rounds + 1
    finally:
        relay.release.set()
        await relay.stop()


class _CountingRelay(OutboxRelay):
    """Counts the rounds that published something."""

    publishing_rounds = 0

    async def publish_pending(self) -> int:
        published = await super().publish_pending()
        self.publishing_rounds += published > 0
        return published


async def test_under_steady_commits_a_lingering_relay_publishes_several_commits_in_one_round(kit):
    settings, db = kit
    settings = settings.model_copy(update={"outbox_linger_s": 1.0, "outbox_poll_interval_s": 3600})
    await ensure_topics(settings, [settings.own_topic])
    relay = _CountingRelay(db, settings)
    await relay.start()
    try:
        async with db.transaction() as session:
            await record_event(session, topic=settings.own_topic, event=_event("first", 0))
        async with asyncio.timeout(10):  # the first after a quiet spell goes at once
            while await kit.scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL"):
                await asyncio.sleep(0.01)
        for n in range(1, 6):  # five commits while the relay lingers after that partial round
            async with db.transaction() as session:
                await record_event(session, topic=settings.own_topic, event=_event(f"next-{n}", n))
            await asyncio.sleep(0.05)
        events = await _consume(settings, settings.own_topic, 6)
    finally:
        await relay.stop()
    assert sorted(e.data["n"] for e in events) == list(range(6))
    assert relay.publishing_rounds == 2


async def test_a_broker_that_lost_acknowledged_events_gets_them_again(kit):
    """As when Tansu's memory storage restarts: the topic and its records are gone. The relay notices that the
    broker's log ends below what it acknowledged and publishes every retained row of the topic again."""
    from aiokafka.admin import AIOKafkaAdminClient

    settings, db = kit
    await ensure_topics(settings, [settings.own_topic])
    for n in range(5):
        async with db.transaction() as session:
            await record_event(session, topic=settings.own_topic, event=_event(f"agg-{n}", n))
    relay = OutboxRelay(db, settings)
    await relay.start()
    try:
        assert len(await _consume(settings, settings.own_topic, 5)) == 5
        assert await kit.scalar("SELECT count(*) FROM outbox_marks") >= 1
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
        await admin.start()
        try:
            await admin.delete_topics([settings.own_topic])
        finally:
            await admin.close()
        again = await _consume(settings, settings.own_topic, 5, timeout=30)  # re-published, no operator involved
    finally:
        await relay.stop()
    assert sorted(e.data["n"] for e in again) == [0, 1, 2, 3, 4]
    assert await kit.scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0


async def test_a_broker_that_kept_its_log_is_left_alone(kit):
    settings, db = kit
    await ensure_topics(settings, [settings.own_topic])
    async with db.transaction() as session:
        await record_event(session, topic=settings.own_topic, event=_event("agg", 1))
    relay = OutboxRelay(db, settings)
    await relay.start()
    try:
        await _consume(settings, settings.own_topic, 1)
        assert await relay.check_broker_log() == []
    finally:
        await relay.stop()
