"""Transactional outbox relay.

Use cases write events into `outbox` in their own transaction (`events.record_event`). The relay claims
pending rows with `FOR UPDATE SKIP LOCKED` so replicas share the work, publishes them, and marks them
published only after the broker acknowledged. Per-key order holds across replicas: a relay publishes a
row only if every earlier pending row of the same key is in its own claim (see `_FIRST_HELD`).
A broker outage leaves rows pending with exponential backoff; nothing is dropped.

A broker can also lose events it acknowledged (Tansu's memory storage on a restart; Apache Kafka after an
unclean leader election). The relay keeps, per partition, the highest batch offset the broker acknowledged to it
(`outbox_marks`, shared by replicas) and checks that the broker's log still reaches past it — before it publishes
after a failure, and at least every `outbox_log_check_interval_s`. A log that ends below the mark has lost
events: every retained row of that topic is made pending again and published anew, in id order, and the
consumers drop what they applied before (see `republish_since` for the operator's form of the same).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner
from prometheus_client import Counter, Gauge
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.db import Database, rowcount
from servicekit.events import record_headers
from servicekit.kafka import ensure_topics, new_producer
from servicekit.settings import ServiceSettings

log = logging.getLogger(__name__)

PUBLISHED = Counter("outbox_published_total", "Outbox events acknowledged by the broker", ["topic"])
FAILED = Counter("outbox_publish_failures_total", "Outbox publish attempts that failed", ["topic"])
PENDING = Gauge("outbox_pending", "Outbox rows not yet published", multiprocess_mode="livemax")
OLDEST_PENDING = Gauge(
    "outbox_oldest_pending_seconds",
    "Age of the oldest outbox row not yet published (0: none)",
    multiprocess_mode="livemax",
)
LOSSES = Counter(
    "outbox_broker_log_losses_total",
    "Times the broker's log was found to end below offsets it had "
    "acknowledged; the topic's retained rows were published again",
    ["topic"],
)

# Planner settings for a round's transaction (they end with it):
# - no sort: the claim then reads pending rows in id order from `outbox_pending` and stops at its limit. Left to
#   its estimates the planner may collect every pending row and sort them, payloads and all. It does so whenever
#   the table's statistics predate a backlog (a fresh table, a broker outage), and each round then costs as much
#   as the whole backlog (an external sort of 12 MB for a claim of 2,000 out of 20,000).
# - no bitmap scans: the partial indexes keep an entry for every row published since the last vacuum. A plain
#   index scan marks those entries dead as it passes them, so the next round skips them; a bitmap scan visits
#   them all again every round (the key-order query: 1.2 ms a round under the ledger's gifts, 0.25 ms without).
# - a plan for each round's own values: the key-order query's arrays (the claim's keys and ids) are then hashed.
#   A generic plan compares every row with every element: 6 ms instead of 1.4 for a claim of 2,000.
_ROUND_PLANNING = text(
    "SELECT set_config('enable_sort', 'off', true), set_config('enable_bitmapscan', 'off', true),"
    " set_config('plan_cache_mode', 'force_custom_plan', true)"
)
_CLAIM = text(
    "SELECT id, topic, key, payload, event_type FROM outbox "
    "WHERE published_at IS NULL AND next_attempt_at <= now() "
    "ORDER BY id LIMIT :limit FOR UPDATE SKIP LOCKED"
)
# Per claimed key, the first earlier pending row not in this claim: another relay holds it, or it is backing off.
# This relay may not publish past it. Normally no row comes back.
_FIRST_HELD = text(
    "SELECT key, min(id) FROM outbox WHERE published_at IS NULL AND key = ANY(:keys) AND id <= :max_id "
    "AND id <> ALL(:mine) GROUP BY key"
)
_MARK_PUBLISHED = text("UPDATE outbox SET published_at = now(), last_error = NULL WHERE id = ANY(:ids)")
_MARK_FAILED = text(
    "UPDATE outbox SET attempts = attempts + 1, last_error = :error, "
    "next_attempt_at = now() + make_interval(secs => LEAST(:max_backoff, 0.25 * power(2, attempts))) "
    "WHERE id = ANY(:ids)"
)
_PURGE = text("DELETE FROM outbox WHERE published_at < now() - make_interval(hours => :hours)")
_BACKLOG = text(
    "SELECT count(*), extract(epoch FROM now() - min(created_at))::float FROM outbox WHERE published_at IS NULL"
)
_MARK_ACKED = text(
    "INSERT INTO outbox_marks (topic, partition, acked_offset) "
    "SELECT * FROM unnest(CAST(:topics AS text[]), CAST(:partitions AS int[]), CAST(:offsets AS bigint[])) "
    "ON CONFLICT (topic, partition) DO UPDATE SET acked_offset = GREATEST(outbox_marks.acked_offset, "
    "EXCLUDED.acked_offset)"
)
_MARKS = text("SELECT topic, partition, acked_offset FROM outbox_marks")
_REPUBLISH_TOPIC = text(
    "UPDATE outbox SET published_at = NULL, attempts = 0, last_error = NULL, "
    "next_attempt_at = now() WHERE topic = :topic AND published_at IS NOT NULL"
)
_FORGET_MARKS = text("DELETE FROM outbox_marks WHERE topic = :topic")
_REPUBLISH = text(
    "UPDATE outbox SET published_at = NULL, attempts = 0, last_error = NULL, next_attempt_at = now() "
    "WHERE published_at >= :since"
)


async def republish_since(db: Database, since: datetime) -> int:
    """Make the rows published since `since` (and not yet purged) pending again: the relay publishes them anew, in
    id order, so each key's order holds; consumers de-duplicate. For after a broker lost acknowledged events."""
    async with db.transaction() as session:  # the commit wakes a relay of this process, if one runs
        result = await session.execute(_REPUBLISH, {"since": since})
    return rowcount(result)


@dataclass
class _Sent:
    ok: list[int]
    failed: list[int]
    error: str
    acked: dict[tuple[str, int], int]  # (topic, partition) -> base offset of the last batch the broker acknowledged


@dataclass(frozen=True)
class _Row:
    id: int
    topic: str
    key: str
    payload: str
    event_type: str


def _ready_in_key_order(claimed: list[_Row], first_held: dict[str, int]) -> list[_Row]:
    """Rows that may be published now: for each key, the claimed rows before the first row of that key this
    relay may not publish past (`_FIRST_HELD`). Publishing past it would reorder the key."""
    return [row for row in claimed if row.id < first_held.get(row.key, row.id + 1)]


class OutboxRelay:
    def __init__(self, db: Database, settings: ServiceSettings, producer: AIOKafkaProducer | None = None) -> None:
        self.producer: AIOKafkaProducer | None
        self.db = db
        self.settings = settings
        self.producer = producer  # created on start: aiokafka needs a running loop
        self._partitioner = DefaultPartitioner()  # murmur2, as every Kafka producer partitions keys
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._started = False
        self._stopping = False
        self._last_purge = 0.0
        self._log_checked_at = float("-inf")  # the first round checks
        self._probe: AIOKafkaConsumer | None = None  # asks the broker where each partition's log ends
        self._admin: AIOKafkaAdminClient | None = None  # … and which partitions it still has
        db.on_commit(self.wake)

    @property
    def started(self) -> bool:
        return self._started

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        # The flag, not only the cancel: on 3.11 a cancel racing a completed wait can be swallowed.
        self._stopping = True
        self._wake.set()
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._started and self.producer is not None:
            await self.producer.stop()
        if self._probe is not None:
            await self._probe.stop()
        if self._admin is not None:
            await self._admin.close()

    async def connect(self) -> None:
        """Connect to the broker and check its log now rather than in the first round, as a relay that has been
        running has by the time a use case commits (for benchmarks; `start` does this by itself)."""
        await self._ensure_producer()
        await self.check_broker_log()

    async def _ensure_producer(self) -> None:
        if not self._started:
            if self.producer is None:
                self.producer = new_producer(self.settings)
            try:
                await self.producer.start()
            except Exception:
                producer, self.producer = self.producer, None  # a failed start can't be retried: make a new one
                await producer.stop()
                raise
            self._started = True

    async def _run(self) -> None:
        while not self._stopping:
            # Cleared before the claim, not after: a commit landing while this round runs sets it again, and
            # the wait below returns at once — cleared after, that wake was lost until the next poll.
            self._wake.clear()
            try:
                try:
                    await self._ensure_producer()
                    since_check = asyncio.get_running_loop().time() - self._log_checked_at
                    if since_check >= self.settings.outbox_log_check_interval_s:
                        await self.check_broker_log()
                except (KafkaError, OSError, TimeoutError) as exc:
                    await self._record_unreachable(exc)
                    raise
                published = await self.publish_pending()
                await self._purge_old()
            except asyncio.CancelledError:
                raise
            except Exception:  # broker unreachable at start, DB hiccup: retry, never die
                log.warning("outbox relay round failed", exc_info=True)
                self._log_checked_at = float("-inf")  # the broker may have restarted: check before publishing
                published = 0
            if published >= self.settings.outbox_batch_size:
                continue  # a full claim: more is waiting, drain at once
            if published:
                # A partial claim under steady load (a commit every few ms): linger so the next round
                # carries several commits' events in one produce request. The first event after a quiet
                # spell still goes at once.
                if self.settings.outbox_linger_s:
                    await asyncio.sleep(self.settings.outbox_linger_s)
                continue
            try:
                async with asyncio.timeout(self.settings.outbox_poll_interval_s):
                    await self._wake.wait()
            except TimeoutError:
                pass

    async def publish_pending(self) -> int:
        """One claim-publish-mark round; returns how many rows were published."""
        async with self.db.transaction(notify=False) as session:
            claimed = await self._claim(session)
            if not claimed:
                return 0
            held = await session.execute(
                _FIRST_HELD,
                {"keys": sorted({r.key for r in claimed}), "max_id": claimed[-1].id, "mine": [r.id for r in claimed]},
            )
            ready = _ready_in_key_order(claimed, dict(held.tuples().all()))
            sent = await self._send(ready)
            if sent.ok:
                await session.execute(_MARK_PUBLISHED, {"ids": sent.ok})
                places = sorted(sent.acked)
                await session.execute(
                    _MARK_ACKED,
                    {
                        "topics": [t for t, _ in places],
                        "partitions": [p for _, p in places],
                        "offsets": [sent.acked[place] for place in places],
                    },
                )
            if sent.failed:
                await session.execute(
                    _MARK_FAILED,
                    {"ids": sent.failed, "error": sent.error[:500], "max_backoff": self.settings.outbox_max_backoff_s},
                )
        if sent.failed:
            self._log_checked_at = float("-inf")
        return len(sent.ok)

    async def _claim(self, session: AsyncSession) -> list[_Row]:
        """The next due rows in id order, locked; rows another relay holds are passed over."""
        await session.execute(_ROUND_PLANNING)
        result = await session.execute(_CLAIM, {"limit": self.settings.outbox_batch_size})
        return [_Row(*r) for r in result.all()]

    async def _record_unreachable(self, exc: Exception) -> None:
        """The broker could not be reached before sending: the due rows count the attempt and back off, as after
        a failed send, so the outbox shows why they wait (the check runs first after any failure, so while the
        broker is away no send would ever be tried and record it)."""
        async with self.db.transaction(notify=False) as session:
            due = await self._claim(session)
            if due:
                await session.execute(
                    _MARK_FAILED,
                    {
                        "ids": [r.id for r in due],
                        "error": f"broker unreachable: {exc!r}"[:500],
                        "max_backoff": self.settings.outbox_max_backoff_s,
                    },
                )
                for row in due:
                    FAILED.labels(row.topic).inc()

    async def check_broker_log(self) -> list[str]:
        """The topics whose log at the broker ends below an offset it acknowledged to us: their retained rows are
        made pending again (published anew by the next rounds). Returns those topics."""
        async with self.db.transaction(notify=False) as session:
            marks = (await session.execute(_MARKS)).all()
        if marks:
            if self._probe is None:
                self._probe = AIOKafkaConsumer(
                    bootstrap_servers=self.settings.kafka_bootstrap_servers,
                    request_timeout_ms=self.settings.kafka_request_timeout_ms,
                    enable_auto_commit=False,
                )
                await self._probe.start()
            ends = await self._log_ends(
                self._probe, [TopicPartition(topic, partition) for topic, partition, _ in marks]
            )
            lost = sorted(
                {topic for topic, partition, acked in marks if ends[TopicPartition(topic, partition)] <= acked}
            )
        else:
            lost = []
        if lost:
            async with self.db.transaction() as session:  # the commit wakes this relay to publish them
                for topic in lost:
                    count = rowcount(await session.execute(_REPUBLISH_TOPIC, {"topic": topic}))
                    await session.execute(_FORGET_MARKS, {"topic": topic})
                    LOSSES.labels(topic).inc()
                    log.error(
                        "the broker lost events it had acknowledged; publishing the retained ones again",
                        extra={"topic": topic, "rows": count},
                    )
            await ensure_topics(self.settings, lost)
        self._log_checked_at = asyncio.get_running_loop().time()
        return lost

    async def _log_ends(self, probe: AIOKafkaConsumer, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        """Where each partition's log ends; 0 for a topic or partition the broker no longer has."""
        if self._admin is None:
            self._admin = AIOKafkaAdminClient(
                bootstrap_servers=self.settings.kafka_bootstrap_servers,
                request_timeout_ms=self.settings.kafka_request_timeout_ms,
            )
            await self._admin.start()
        described = await self._admin.describe_topics(sorted({tp.topic for tp in partitions}))
        existing = {
            (topic["topic"], partition["partition"])
            for topic in described
            if topic["error_code"] == 0
            for partition in topic["partitions"]
        }
        known = [tp for tp in partitions if (tp.topic, tp.partition) in existing]
        ends = await probe.end_offsets(known) if known else {}
        return {tp: ends.get(tp, 0) for tp in partitions}

    async def _send(self, rows: list[_Row]) -> _Sent:
        """Publish rows as per-partition batches, in id order within each partition; returns ids that the
        broker acknowledged, ids that failed, the last error, and the last offset acknowledged per partition."""
        assert self.producer is not None
        groups: dict[tuple[str, int], list[_Row]] = defaultdict(list)
        error = ""
        failed_rows: list[_Row] = []
        partitions: dict[str, list[int]] = {}
        for row in rows:
            try:
                if row.topic not in partitions:
                    partitions[row.topic] = sorted(await self.producer.partitions_for(row.topic))
            except KafkaError as exc:
                failed_rows.append(row)
                error = f"{type(exc).__name__}: {exc}"
                continue
            choices = partitions[row.topic]
            groups[(row.topic, self._partitioner(row.key.encode(), choices, choices))].append(row)
        sent: list[tuple[list[_Row], asyncio.Future]] = []
        places: list[tuple[str, int]] = []
        for (topic, partition), group in groups.items():
            batch, members = self.producer.create_batch(), list[_Row]()
            for row in group:
                record = {
                    "key": row.key.encode(),
                    "value": row.payload.encode(),
                    "timestamp": None,
                    "headers": record_headers(row.event_type),
                }
                if batch.append(**record) is None:  # batch full: send it, start the next
                    sent.append((members, await self.producer.send_batch(batch, topic, partition=partition)))
                    places.append((topic, partition))
                    batch, members = self.producer.create_batch(), []
                    batch.append(**record)
                members.append(row)
            sent.append((members, await self.producer.send_batch(batch, topic, partition=partition)))
            places.append((topic, partition))
        results = await asyncio.gather(*(future for _, future in sent), return_exceptions=True)
        ok: list[int] = []
        acked: dict[tuple[str, int], int] = {}
        broken: set[tuple[str, int]] = set()  # partitions with a failed batch: later batches retry too
        for (members, _), result, place in zip(sent, results, places, strict=True):
            if isinstance(result, BaseException) or place in broken:
                failed_rows += members
                broken.add(place)
                if isinstance(result, BaseException):
                    error = f"{type(result).__name__}: {result}"
            else:
                ok += [r.id for r in members]
                # The batch's base offset, not its last: Tansu reports a log's end as its last batch's base + 1
                # (Kafka: its last offset + 1), so only an end at or below a base we were given means a lost log.
                acked[place] = max(acked.get(place, -1), result.offset)
                PUBLISHED.labels(members[0].topic).inc(len(members))
        # A key's rows share a partition; after a failed batch the partition's later batches count as failed
        # too, so no row is marked published ahead of an earlier row of its key (re-sends are de-duplicated
        # by consumers).
        for row in failed_rows:
            FAILED.labels(row.topic).inc()
        failed = [r.id for r in failed_rows]
        if failed:
            log.warning("outbox publish failed; will retry", extra={"failed": len(failed), "error": error})
            # Tansu's memory storage forgets topics on restart; recreate ours before the retry.
            try:
                await ensure_topics(self.settings, sorted({r.topic for r in rows}))
            except Exception:
                log.debug("topic re-creation failed", exc_info=True)
        return _Sent(ok, failed, error, acked)

    async def _purge_old(self) -> None:
        """Every minute: drop rows past the retention, and report the backlog (an on-call engineer's first look
        when events seem late: a growing count or an old oldest row means the relay cannot publish)."""
        now = asyncio.get_running_loop().time()
        if now - self._last_purge < 60:
            return
        self._last_purge = now
        async with self.db.transaction(notify=False) as session:
            await session.execute(_PURGE, {"hours": self.settings.outbox_retention_hours})
            pending, oldest = (await session.execute(_BACKLOG)).one()
        PENDING.set(pending)
        OLDEST_PENDING.set(oldest or 0)
