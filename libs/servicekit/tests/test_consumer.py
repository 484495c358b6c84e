import asyncio
import itertools
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import text

from servicekit.consumer import EventConsumer, dlq_topic
from servicekit.db import TRANSIENT_RETRIES, Database
from servicekit.events import CloudEvent, record_headers
from servicekit.kafka import ensure_topics

TYPE = "timebank.test.thing.happened"


def _event(n: int) -> CloudEvent:
    return CloudEvent(
        source="test", type=TYPE, subject=f"s{n}", dataschema=f"urn:timebank:schema:{TYPE}:v1", data={"n": n}
    )


async def _produce(settings, topic: str, payloads: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await producer.start()
    try:
        for payload in payloads:
            await producer.send_and_wait(topic, payload, key=b"k")
    finally:
        await producer.stop()


async def _record_effect(session, event: CloudEvent) -> None:
    await session.execute(
        text("INSERT INTO effects (event_id, subject) VALUES (:id, :s)"), {"id": event.id, "s": event.subject}
    )


async def _drain(consumer: EventConsumer, *, until, commit: bool = True, timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not await until():
            await consumer.poll_once(commit=commit)


async def _replace_topic(settings, topic: str) -> None:
    """Delete the topic and create it anew, as a broker that lost its log leaves it."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        await admin.delete_topics([topic])
    finally:
        await admin.close()
    await ensure_topics(settings, [topic])


async def _poll_until_seen(consumer: EventConsumer, count: int, timeout: float = 20.0) -> None:
    seen = 0
    async with asyncio.timeout(timeout):
        while seen < count:
            seen += await consumer.poll_once()


async def _dead_letters(settings, topic: str) -> list:
    reader = AIOKafkaConsumer(
        dlq_topic(topic),
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=f"dlq-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
    )
    await reader.start()
    try:
        letters = await reader.getmany(timeout_ms=1500)
    finally:
        await reader.stop()
    return [record for records in letters.values() for record in records]


async def test_redelivered_event_applies_once(kit):
    settings, db = kit
    topic = f"in-{uuid.uuid4().hex[:6]}"
    await ensure_topics(settings, [topic])
    event = _event(1)
    await _produce(settings, topic, [event.to_bytes(), event.to_bytes()])  # a duplicate on the wire too
    consumer = EventConsumer(name="c1", topics=[topic], handlers={TYPE: _record_effect}, db=db, settings=settings)

    await consumer._open()

    # Apply without committing offsets, then "crash": a new member must get the events again.
    async def applied() -> bool:
        return await kit.scalar("SELECT count(*) FROM effects") >= 1

    await _drain(consumer, until=applied, commit=False)
    await consumer._close()
    again = EventConsumer(name="c1", topics=[topic], handlers={TYPE: _record_effect}, db=db, settings=settings)
    await again._open()
    await _poll_until_seen(again, 2)
    await again._close()
    assert await kit.scalar("SELECT count(*) FROM effects") == 1


async def test_failing_event_goes_to_dlq_and_replays_once_fixed(kit):
    settings, db = kit
    topic = f"in-{uuid.uuid4().hex[:6]}"
    await ensure_topics(settings, [topic, dlq_topic(topic)])
    broken = {"on": True}

    async def flaky(session, event):
        if broken["on"] and event.data["n"] == 2:
            raise ValueError("cannot apply 2 yet")
        await _record_effect(session, event)

    await _produce(settings, topic, [_event(1).to_bytes(), _event(2).to_bytes(), b"not json", _event(3).to_bytes()])
    consumer = EventConsumer(name="c2", topics=[topic], handlers={TYPE: flaky}, db=db, settings=settings)
    await consumer._open()
    await _poll_until_seen(consumer, 4, timeout=30)
    await consumer._close()
    # 1 and 3 applied, 2 failed after retries, the garbage went straight to the DLQ; nothing blocked.
    assert await kit.scalar("SELECT count(*) FROM effects") == 2
    assert await consumer.dead_letters_waiting() == {dlq_topic(topic): 2}

    broken["on"] = False
    applied, failing = await consumer.replay_dead_letters(idle_timeout_ms=2000)
    # The unreadable letter (dead-lettered first) still fails but does not block 2, which now applies.
    assert (applied, failing) == (1, 1)
    assert await kit.scalar("SELECT count(*) FROM effects") == 3
    assert await consumer.dead_letters_waiting() == {dlq_topic(topic): 1}  # the unreadable one, lettered again
    applied, failing = await consumer.replay_dead_letters(idle_timeout_ms=2000)
    assert (applied, failing) == (0, 1)  # progress was committed: 2 is not applied twice
    assert await kit.scalar("SELECT count(*) FROM effects") == 3
    await consumer.stop()


async def test_batch_handlers_get_consecutive_events_of_their_type_in_order(kit):
    settings, db = kit
    topic = f"in-{uuid.uuid4().hex[:6]}"
    await ensure_topics(settings, [topic])
    other = "timebank.test.other.happened"
    calls: list[tuple[str, list[int]]] = []

    async def batch(session, events):
        calls.append(("batch", [e.data["n"] for e in events]))

    async def single(session, event):
        calls.append(("single", [event.data["n"]]))

    def other_event(n: int) -> CloudEvent:
        return CloudEvent(
            source="test", type=other, subject="s", dataschema=f"urn:timebank:schema:{other}:v1", data={"n": n}
        )

    # One key, so one partition and one poll: 1 2 | x3 | 4 5
    wire = [_event(1), _event(2), other_event(3), _event(4), _event(5)]
    await _produce(settings, topic, [e.to_bytes() for e in wire])
    consumer = EventConsumer(
        name="c3", topics=[topic], db=db, settings=settings, batch_handlers={TYPE: batch}, handlers={other: single}
    )
    await consumer._open()
    await _poll_until_seen(consumer, len(wire))
    await consumer._close()
    flat = [n for _, ns in calls for n in ns]
    assert flat == [1, 2, 3, 4, 5]
    assert ("single", [3]) in calls and all(kind == "batch" for kind, ns in calls if 3 not in ns)


_DEADLOCK = text("DO $$ BEGIN RAISE EXCEPTION 'deadlock detected' USING ERRCODE = 'deadlock_detected'; END $$")


async def test_a_deadlock_retries_the_batch_and_never_dead_letters(kit):
    """PostgreSQL's own deadlock error (raised for real, SQLSTATE 40P01) on the batch and on the event alone:
    the events still apply, once, and nothing reaches the DLQ, though the conflicts outnumber the retries a
    failing event gets."""
    settings, db = kit
    topic = f"in-{uuid.uuid4().hex[:6]}"
    await ensure_topics(settings, [topic, dlq_topic(topic)])
    # More than the batch's retries (so the batch splits), then more than a failing event's retries.
    conflicts = {"left": TRANSIENT_RETRIES + 2 + settings.consumer_max_retries + 2}

    async def contended(session, event):
        if event.data["n"] == 2 and conflicts["left"] > 0:
            conflicts["left"] -= 1
            await session.execute(_DEADLOCK)
        await _record_effect(session, event)

    await _produce(settings, topic, [_event(n).to_bytes() for n in (1, 2, 3)])
    consumer = EventConsumer(name="c4", topics=[topic], handlers={TYPE: contended}, db=db, settings=settings)
    await consumer._open()
    await _poll_until_seen(consumer, 3, timeout=30)
    await consumer._close()
    assert conflicts["left"] == 0
    assert await kit.scalar("SELECT count(*) FROM effects") == 3
    assert await kit.scalar("SELECT count(DISTINCT event_id) FROM effects") == 3

    assert not await _dead_letters(settings, topic)


class _SlowRecorder:
    """A `Recorder` whose own records (the effects table) say which events it holds; each recording holds its
    transaction open long enough for the next poll to be fetched and prepared meanwhile."""

    read = staticmethod(CloudEvent.from_bytes)

    def __init__(self, timeline: list[tuple[str, list[int]]]) -> None:
        self.timeline = timeline

    async def prepare(self, events):
        self.timeline.append(("prepare", [e.data["n"] for e in events]))

    async def unseen(self, session, events):
        held = await session.execute(
            text("SELECT event_id FROM effects WHERE event_id = ANY(:ids)"), {"ids": [e.id for e in events]}
        )
        known = {row[0] for row in held}
        return [e for e in events if e.id not in known]

    async def record(self, session, events):
        self.timeline.append(("begin", [e.data["n"] for e in events]))
        for event in events:
            await _record_effect(session, event)
        await asyncio.sleep(0.3)
        self.timeline.append(("end", [e.data["n"] for e in events]))


async def test_pump_prepares_the_next_poll_while_the_previous_one_commits_and_keeps_order(kit):
    """The pipelined loop, with a recorder: poll n+1 is parsed and prepared while poll n's transaction is still
    open, yet transactions run one after another in poll order and every poll's offsets are committed. The
    recorder's own records, not `processed_events`, say what it holds."""
    settings, db = kit
    topic = f"in-{uuid.uuid4().hex[:6]}"
    await ensure_topics(settings, [topic])
    small = settings.model_copy(update={"consumer_batch_size": 3})
    timeline: list[tuple[str, list[int]]] = []

    events = [_event(n) for n in range(1, 10)]
    await _produce(settings, topic, [e.to_bytes() for e in events])  # one key: one partition
    consumer = EventConsumer(name="c5", topics=[topic], db=db, settings=small, recorder=_SlowRecorder(timeline))
    await consumer._open()
    async with asyncio.timeout(30):
        assert await consumer.pump(until=9) == 9
    await consumer._close()

    assert [n for kind, ns in timeline if kind == "end" for n in ns] == list(range(1, 10))
    begins_and_ends = [kind for kind, _ in timeline if kind != "prepare"]
    assert begins_and_ends == ["begin", "end"] * (len(begins_and_ends) // 2)  # never two transactions at once
    # Each poll after the first was prepared before the previous poll's transaction ended: the stages overlap.
    position = {(kind, tuple(ns)): i for i, (kind, ns) in enumerate(timeline)}
    polls = [tuple(ns) for kind, ns in timeline if kind == "end"]
    assert all(
        position[("prepare", later)] < position[("end", earlier)] for earlier, later in itertools.pairwise(polls)
    )
    assert await kit.scalar("SELECT count(*) FROM effects") == 9
    assert await kit.scalar("SELECT count(*) FROM processed_events WHERE consumer = 'c5'") == 0

    # Every poll's offsets were committed: the group has nothing left to give.
    again = EventConsumer(name="c5", topics=[topic], db=db, settings=small, recorder=_SlowRecorder([]))
    await again._open()
    assert await again.poll_once(timeout_ms=1500) == 0
    # A redelivery (the relay sending again) is told apart by the recorder's own records: nothing twice.
    await _produce(settings, topic, [events[0].to_bytes(), _event(10).to_bytes()])

    async def all_ten() -> bool:
        return await kit.scalar("SELECT count(*) FROM effects") >= 10

    await _drain(again, until=all_ten)
    await again._close()
    assert await kit.scalar("SELECT count(*) FROM effects") == 10


async def test_a_recorder_takes_every_event_and_no_typed_handler_beside_it(kit):
    settings, db = kit
    with pytest.raises(ValueError, match="recorder"):
        EventConsumer(
            name="c6",
            topics=["t"],
            db=db,
            settings=settings,
            recorder=_SlowRecorder([]),
            handlers={TYPE: _record_effect},
        )


async def test_events_no_handler_wants_are_passed_over_unparsed_and_unrecorded(kit):
    """A topic carries types this consumer does not handle: with the relay's type header they are not
    even parsed (a body that would not parse is no concern of this consumer), without it they are parsed and
    dropped; either way nothing is written for them, and the poll's offsets are committed."""
    settings, db = kit
    topic = f"in-{uuid.uuid4().hex[:6]}"
    await ensure_topics(settings, [topic, dlq_topic(topic)])
    other = "timebank.test.other.happened"
    unwanted = CloudEvent(source="test", type=other, subject="s", dataschema=f"urn:timebank:schema:{other}:v1", data={})
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"not json at all", key=b"k", headers=record_headers(other))
        await producer.send_and_wait(topic, unwanted.to_bytes(), key=b"k")  # no header: parsed, then dropped
        await producer.send_and_wait(topic, _event(1).to_bytes(), key=b"k", headers=record_headers(TYPE))
    finally:
        await producer.stop()
    consumer = EventConsumer(name="c6", topics=[topic], handlers={TYPE: _record_effect}, db=db, settings=settings)
    await consumer._open()
    await _poll_until_seen(consumer, 3)
    await consumer._close()
    assert await kit.scalar("SELECT count(*) FROM effects") == 1
    assert await kit.scalar("SELECT count(*) FROM processed_events") == 1
    assert await kit.scalar("SELECT event_type FROM processed_events") == TYPE

    assert not await _dead_letters(settings, topic)  # the unparseable body of an unwanted type is not a dead letter
    again = EventConsumer(name="c6", topics=[topic], handlers={TYPE: _record_effect}, db=db, settings=settings)
    await again._open()
    assert await again.poll_once(timeout_ms=1500) == 0
    await again._close()


async def test_a_pooled_connection_the_server_dropped_while_idle_is_replaced_before_use(kit):
    """Connections idle past the window are checked before use (those used a moment ago are not: a check
    costs three round trips)."""
    settings, _ = kit
    db = Database(settings.database_url, pool_size=1, ping_after_idle_s=0.1)
    try:
        async with db.transaction() as session:
            pid = (await session.execute(text("SELECT pg_backend_pid()"))).scalar()
        assert await kit.scalar("SELECT pg_terminate_backend(:pid)", pid=pid)
        await asyncio.sleep(0.3)
        async with db.transaction() as session:
            again = (await session.execute(text("SELECT pg_backend_pid()"))).scalar()
        assert again != pid
    finally:
        await db.dispose()


async def test_a_group_positioned_beyond_a_rewound_log_reads_it_again_from_the_start(kit):
    """As after a broker restart that lost its log: the group's committed offset lies beyond the new log end.
    The consumer notices, re-reads from the earliest offset and applies the new events (the old ones once)."""
    settings, db = kit
    topic = f"rewound-{uuid.uuid4().hex[:6]}"
    await ensure_topics(settings, [topic])
    first = _event(1)
    await _produce(settings, topic, [first.to_bytes()])
    consumer = EventConsumer(name="rewound", topics=[topic], handlers={TYPE: _record_effect}, db=db, settings=settings)
    await consumer._open()
    await _poll_until_seen(consumer, 1)
    # The broker's log is now "shorter" than the group's position: commit far past its end, as a rewound log leaves it.
    await consumer.consumer.commit(
        {TopicPartition(topic, p): 1000 for p in consumer.consumer.partitions_for_topic(topic)}
    )
    await consumer._close()

    again = EventConsumer(name="rewound", topics=[topic], handlers={TYPE: _record_effect}, db=db, settings=settings)
    await again.start()  # the running loop, as in a service
    try:
        await _produce(settings, topic, [_event(2).to_bytes(), first.to_bytes()])
        async with asyncio.timeout(20):
            while await kit.scalar("SELECT count(*) FROM effects") < 2:
                await asyncio.sleep(0.2)
    finally:
        await again.stop()
    assert await kit.scalar("SELECT count(*) FROM effects") == 2  # the new event applied, the old one not twice


async def test_a_healthy_log_written_in_batches_is_not_taken_for_a_rewound_one(kit):
    """Tansu reports a log's end as its last batch's base offset + 1: after a batch of ten, a group at offset 10
    is past the reported end (1) but not past the log's true end, and must not re-read."""
    settings, db = kit
    topic = f"batched-{uuid.uuid4().hex[:6]}"
    await ensure_topics(settings, [topic])
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await producer.start()
    try:
        batch = producer.create_batch()
        for n in range(10):
            batch.append(key=b"k", value=_event(n).to_bytes(), timestamp=None, headers=record_headers(TYPE))
        await (await producer.send_batch(batch, topic, partition=0))
    finally:
        await producer.stop()
    consumer = EventConsumer(name="batched", topics=[topic], handlers={TYPE: _record_effect}, db=db, settings=settings)
    await consumer._open()
    try:
        await _poll_until_seen(consumer, 10)
        assert await consumer.reread_rewound_partitions(force=True) == []
        assert await consumer.reread_rewound_partitions(force=True) == []  # the noted record, found again
    finally:
        await consumer._close()


async def test_a_log_replaced_by_a_longer_one_is_read_again_from_the_start(kit):
    """As after a broker restart that lost its log, when the new log outgrew the group's position before the
    consumer looked (relays republish their retained rows at once): the records the group would read next are
    not the ones it stopped at, and those before its position are new. The consumer notices that the record it
    read last is no longer there and reads the log again from the start."""
    settings, db = kit
    topic = f"replaced-{uuid.uuid4().hex[:6]}"
    await ensure_topics(settings, [topic])
    old = [_event(n) for n in range(3)]
    await _produce(settings, topic, [e.to_bytes() for e in old])
    consumer = EventConsumer(name="replaced", topics=[topic], handlers={TYPE: _record_effect}, db=db, settings=settings)
    await consumer.start()
    try:
        async with asyncio.timeout(20):
            while await kit.scalar("SELECT count(*) FROM effects") < 3:
                await asyncio.sleep(0.1)
        await _replace_topic(settings, topic)
        new = [_event(n) for n in range(3, 5)]
        await _produce(settings, topic, [e.to_bytes() for e in [*new, *old, _event(5)]])  # new ones first, as in a race
        async with asyncio.timeout(20):
            while await kit.scalar("SELECT count(*) FROM effects") < 6:
                await asyncio.sleep(0.1)
    finally:
        await consumer.stop()
    assert await kit.scalar("SELECT count(*) FROM effects") == 6


async def test_a_log_replaced_before_the_first_check_of_a_partition_not_yet_read_is_read_again(kit):
    """A process that joined the group (its position committed by the one before it) but has read nothing of
    a partition yet has no record of its own to look for: the broker losing the log in that window showed as a
    healthy log. A record below the position written after the partition came to this process gives it away."""
    settings, db = kit
    topic = f"unread-{uuid.uuid4().hex[:6]}"
    await ensure_topics(settings, [topic])
    old = [_event(n) for n in range(3)]
    await _produce(settings, topic, [e.to_bytes() for e in old])
    before = EventConsumer(name="unread", topics=[topic], handlers={TYPE: _record_effect}, db=db, settings=settings)
    await before._open()
    try:
        await _poll_until_seen(before, 3)  # applied and committed: the group's position is 3
    finally:
        await before._close()
    after = EventConsumer(name="unread", topics=[topic], handlers={TYPE: _record_effect}, db=db, settings=settings)
    await after.connect()  # the partition comes to it at position 3; it reads nothing yet
    try:
        await _replace_topic(settings, topic)
        await asyncio.sleep(1.2)  # beyond the allowance for producers' clocks
        await _produce(settings, topic, [e.to_bytes() for e in [_event(3), _event(4), *old, _event(5)]])
        [rewound] = await after.reread_rewound_partitions(force=True)  # the one partition the records' key picks
        assert rewound.topic == topic
        await _poll_until_seen(after, 6)
    finally:
        await after._close()
    assert await kit.scalar("SELECT count(*) FROM effects") == 6
