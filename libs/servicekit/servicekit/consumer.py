"""Idempotent event consumer.

The events of one poll are applied in one transaction: its event ids go into
`processed_events` (primary key: consumer, event_id) in one statement, and the handlers of the events not
seen before run in that same transaction, so a redelivered event is a no-op. Offsets are committed only
after the transaction commits. If anything in the batch fails, the batch is rolled back and re-applied
event by event, each in its own savepoint, so one bad event does not hold back the others; an event that
keeps failing is retried, then sent to `<topic>.dlq` with the error (ADR 3). A transient conflict —
PostgreSQL's deadlock, serialization or lock-timeout errors, which two consumers of one group touching the
same accounts can meet — is not the event's fault: the batch is retried whole, and such an error never
counts toward dead-lettering. Nor is a database that is down or restarting: the batch waits, its offsets
uncommitted, until the database is back (crash tests: tests/test_crash_recovery.py).

Handlers take one event; a projection that can write many effects at once may register a batch handler,
which gets consecutive events of its type together. A consumer that records every event rather than acting on
some types (the audit trail) brings a `Recorder` instead of handlers: the kit's one extension point, through
which it reads records its own way, picks the new events from its own records, and works ahead.

The running loop is a two-stage pipeline (`pump`): while one poll's transaction runs, the next poll is
fetched and parsed (and, for a recorder, prepared: work that needs no database, done outside any
transaction) — so the service's Python work overlaps PostgreSQL's instead of waiting for it. At most one
poll is ahead; a poll's transaction starts, and its offsets are committed, only after the one before it has
committed, so the order of effects and of offsets is that of the serial loop (`poll_once`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import Counter, Gauge
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.context import traceparent_var
from servicekit.db import TRANSIENT_RETRIES, Database, conflict_backoff, is_transient, is_unavailable
from servicekit.events import CONTENT_TYPE_HEADER, TYPE_HEADER, CloudEvent
from servicekit.kafka import new_consumer, new_producer
from servicekit.settings import ServiceSettings

log = logging.getLogger(__name__)

Handler = Callable[[AsyncSession, CloudEvent], Awaitable[None]]


P = TypeVar("P", covariant=True)


class Reader(Protocol[P]):
    """What reads an event's data into its payload: a contracts.base.EventData class (its `read`), or a reader
    of several versions of one event."""

    def read(self, data: dict[str, Any]) -> P: ...


def reading(payload: Reader[P], apply: Callable[[AsyncSession, P], Awaitable[object]]) -> tuple[Reader[P], Handler]:
    """(the payload's reader, a handler that reads it and applies it): one entry of a service's handler table."""

    async def handle(session: AsyncSession, event: CloudEvent) -> None:
        await apply(session, payload.read(event.data))

    return payload, handle


BatchHandler = Callable[[AsyncSession, list[CloudEvent]], Awaitable[None]]


class Recorder(Protocol):
    """A consumer that records every event it receives (the audit trail) instead of acting on some types. Its
    events are whatever `read` makes of a record (the trail keeps the payload as text), as long as they have
    the envelope's `id` and `type`; its own records say which events it holds, so no `processed_events`."""

    def read(self, raw: bytes) -> Any:
        """The event in a record's value; ValueError when it is not one (the record is dead-lettered)."""
        ...

    async def prepare(self, events: list[Any]) -> None:
        """Work for a poll that needs no database, done while the previous poll's transaction runs."""
        ...

    async def unseen(self, session: AsyncSession, events: list[Any]) -> list[Any]:
        """The events not recorded yet, in the poll's transaction."""
        ...

    async def record(self, session: AsyncSession, events: list[Any]) -> None:
        """Record the new events, in order, in the poll's transaction."""
        ...


# Parsing yields to the event loop after this many records, so the transaction in flight gets its replies
# from PostgreSQL read (and its next statement sent) without waiting for the whole next poll to be parsed.
_YIELD_EVERY = 50


APPLIED = Counter("consumer_events_applied_total", "Events whose effects were committed", ["consumer", "type"])
DUPLICATES = Counter("consumer_events_duplicate_total", "Redelivered events skipped", ["consumer"])
DEAD_LETTERED = Counter("consumer_events_dead_lettered_total", "Events sent to a DLQ", ["consumer"])
CONFLICTS = Counter(
    "consumer_transient_conflicts_total", "Batches retried after a deadlock or serialization error", ["consumer"]
)
LAG = Gauge(
    "consumer_lag_records",
    "Records in the partition after this group's committed offset, as of this process's last fetch",
    ["consumer", "topic", "partition"],
    multiprocess_mode="livemostrecent",  # with several workers, the one that holds the partition now
)
DLQ_WAITING = Gauge(
    "consumer_dead_letters_waiting",
    "Records in the consumer's dead-letter topics after its replay group's position: what `dlq-replay` would "
    "look at (letters of other consumers of the same topic included)",
    ["consumer", "topic"],
    multiprocess_mode="livemax",
)
REWOUND = Counter(
    "consumer_log_rewinds_total",
    "Partitions re-read from the start because the broker's log no "
    "longer held the record read last (the broker lost or replaced its log)",
    ["consumer"],
)

# The longest wait between tries while the database is unavailable.
OUTAGE_MAX_BACKOFF_S = 5.0

# How often a consumer asks whether the broker's log still holds the record it read last.
# How far producers' clocks may run ahead of this host's (record timestamps are the producers').
CLOCK_SKEW_MS = 1000
REWIND_CHECK_INTERVAL_S = 2.0

_MARK_PROCESSED = text(
    "INSERT INTO processed_events (consumer, event_id, event_type) VALUES (:consumer, :event_id, :event_type) "
    "ON CONFLICT DO NOTHING RETURNING 1"
)
_MARK_BATCH_PROCESSED = text(
    "INSERT INTO processed_events (consumer, event_id, event_type) "
    "SELECT :consumer, e.id, e.type FROM unnest(CAST(:ids AS uuid[]), CAST(:types AS text[])) AS e(id, type) "
    "ON CONFLICT DO NOTHING RETURNING event_id"
)

DLQ_SUFFIX = ".dlq"


def dlq_topic(topic: str) -> str:
    return topic + DLQ_SUFFIX


@dataclass(frozen=True)
class _Read:
    """What identifies a record at its offset: a republished event has the same value but a new timestamp."""

    offset: int
    timestamp: int
    key: bytes | None
    value_hash: int

    @classmethod
    def of(cls, record: ConsumerRecord) -> _Read:
        return cls(record.offset, record.timestamp, record.key, hash(record.value))


@dataclass
class _Failure:
    record: ConsumerRecord
    error: str
    transient: bool = False
    unavailable: bool = False  # the database was away, not the event at fault


class _FirstAssignments(ConsumerRebalanceListener):
    """When each partition first came to this process. A partition it has not read yet starts at a position
    committed before then, so every record below that position was written before then; one written later (by
    its timestamp, allowing for producers' clocks running ahead) means the broker replaced the log between the
    assignment and the first check — the one window the comparison with a noted record cannot cover. First, not
    latest: a broker that lost its groups reassigns every partition, after the relays have republished."""

    def __init__(self) -> None:
        self.first_ms: dict[TopicPartition, int] = {}

    async def on_partitions_revoked(self, revoked) -> None:
        return None

    async def on_partitions_assigned(self, assigned) -> None:
        now = int(time.time() * 1000)
        for tp in assigned:
            self.first_ms.setdefault(tp, now)

    def written_since(self, tp: TopicPartition, timestamp: int) -> bool:
        first = self.first_ms.get(tp)
        return first is not None and timestamp > first + CLOCK_SKEW_MS


class EventConsumer:
    """Consumes `topics` as consumer group `name`, dispatching events by CloudEvents type."""

    def __init__(
        self,
        *,
        name: str,
        topics: list[str],
        db: Database,
        settings: ServiceSettings,
        handlers: dict[str, Handler] | None = None,
        batch_handlers: dict[str, BatchHandler] | None = None,
        recorder: Recorder | None = None,
    ) -> None:
        if recorder is not None and (handlers or batch_handlers):
            raise ValueError("a recorder takes every event: it has no typed handlers beside it")
        self.name = name
        self.recorder = recorder
        self.parse: Callable[[bytes], Any] = recorder.read if recorder is not None else CloudEvent.from_bytes
        self.topics = topics
        self.handlers = handlers or {}
        self.batch_handlers = batch_handlers or {}
        self.db = db
        self.settings = settings
        self.consumer: AIOKafkaConsumer | None = None
        self._dlq_producer: AIOKafkaProducer | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._rewind_checked_at = 0.0
        self._last_read: dict[TopicPartition, _Read] = {}  # per partition, the record this group read last
        self._noted: dict[TopicPartition, _Read] = {}  # per partition, the record to look up at the next check
        self._committed: dict[TopicPartition, int] = {}  # per partition, the offset this process committed last
        self._watch: asyncio.Task[None] | None = None
        self._admin: AIOKafkaAdminClient | None = None
        self._dlq_probe: AIOKafkaConsumer | None = None
        self._probe: AIOKafkaConsumer | None = None
        self._assignments = _FirstAssignments()

    # -- lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        """Run the poll loop in the background (joining the group first if not yet done), and the count of
        dead letters waiting beside it."""
        self._task = asyncio.create_task(self._run(), name=f"consumer-{self.name}")
        self._watch = asyncio.create_task(self._watch_dead_letters(), name=f"dlq-{self.name}")

    async def stop(self) -> None:
        self._stopping = True  # see OutboxRelay.stop: a cancel alone can be swallowed
        for task in (self._task, self._watch):
            if task:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self._close()
        if self._admin is not None:
            await self._admin.close()
            self._admin = None

    async def _open(self) -> None:
        self.consumer = new_consumer(self.settings, group_id=self.name)
        self.consumer.subscribe(self.topics, listener=self._assignments)
        await self.consumer.start()

    async def connect(self) -> None:
        """Join the group and wait for partitions, without starting the loop: benchmarks and tools then drive
        `poll_once` themselves. Only for topics that are still empty (waiting polls would drop records)."""
        await self._open()
        assert self.consumer is not None
        while not self.consumer.assignment():
            await self.consumer.getmany(timeout_ms=200)

    async def _close(self) -> None:
        if self.consumer is not None:
            try:
                await self.consumer.stop()
            except Exception:
                log.debug("consumer stop failed", exc_info=True)
            self.consumer = None
        if self._probe is not None:
            try:
                await self._probe.stop()
            except Exception:
                log.debug("probe stop failed", exc_info=True)
            self._probe = None
        if self._dlq_producer is not None:
            await self._dlq_producer.stop()
            self._dlq_producer = None
        if self._dlq_probe is not None:
            with contextlib.suppress(Exception):
                await self._dlq_probe.stop()
            self._dlq_probe = None

    async def _run(self) -> None:
        while not self._stopping:
            try:
                if self.consumer is None:
                    await self._open()
                await self.pump()
            except asyncio.CancelledError:
                raise
            except Exception:  # broker gone or restarted: reconnect and resume from committed offsets
                log.warning("consumer round failed; reconnecting", extra={"consumer": self.name}, exc_info=True)
                await self._close()
                await asyncio.sleep(1.0)

    # -- polls ---------------------------------------------------------------------------------------
    async def poll_once(self, *, commit: bool = True, timeout_ms: int = 500) -> int:
        """Fetch, apply (one transaction for the whole poll) and, unless told not to, commit; returns events seen."""
        records, offsets = await self._poll(timeout_ms)
        if records:
            await self.apply(records)
            if commit:
                await self._commit(offsets)
        return len(records)

    async def pump(self, *, until: int | None = None, timeout_ms: int = 500) -> int:
        """Poll for ever (or until `until` events are applied and committed), the next poll fetched, parsed and
        prepared while the previous one's transaction runs. Returns the events applied."""
        applying: asyncio.Task[int] | None = None
        polled = applied = 0
        try:
            while not self._stopping and (until is None or polled < until):
                if self._rewind_check_due():  # under load too: a replaced log is no emptier than the old one
                    if applying is not None:  # offsets committed before any seek
                        applied += await applying
                        applying = None
                    await self.reread_rewound_partitions()
                records, offsets = await self._poll(timeout_ms)
                if not records:
                    if applying is not None:  # nothing new: see the poll in flight through (and its errors)
                        applied += await applying
                        applying = None
                    self._note_lag()
                    continue
                polled += len(records)
                parsed, unreadable = await self._parse(records)
                if self.recorder is not None and parsed:
                    await self.recorder.prepare([event for _, event in parsed])
                if applying is not None:
                    applied += await applying
                applying = asyncio.create_task(self._apply_and_commit(parsed, unreadable, offsets))
                await asyncio.sleep(0)  # let it send its first statement before this loop turns to the next poll
            if applying is not None:
                applied += await applying
                applying = None
        finally:
            if applying is not None and not applying.done():  # stopped mid-transaction: it rolls back, and
                applying.cancel()  # the uncommitted offsets redeliver the poll
                await asyncio.gather(applying, return_exceptions=True)
        return applied

    def _rewind_check_due(self) -> bool:
        return asyncio.get_running_loop().time() - self._rewind_checked_at >= REWIND_CHECK_INTERVAL_S

    async def reread_rewound_partitions(self, *, force: bool = False) -> list[TopicPartition]:
        """Partitions whose log no longer holds a record this group read are read again from their earliest
        offset; the idempotent consumer drops what it applied before.

        A broker that lost its log (Tansu's memory storage after a restart; Apache Kafka after an unclean leader
        election) does not say so: a fetch beyond the new end answers nothing rather than an out-of-range error,
        and once relays have republished, the new log may reach past the group's position, so the group reads
        on from there and skips every new event below it. Each check therefore looks up the record noted at the
        check before (Kafka's own clients do the like with leader epochs): found unchanged, the record read last
        becomes the one to look for next; changed, or gone from a log whose high watermark (from the fetch, not
        ListOffsets, which Tansu answers with its last batch's base + 1) ends at or before it, the log was
        replaced, whether it is shorter or longer now — noticed within two checks of the replacement, at most
        REWIND_CHECK_INTERVAL_S apart. A fetch that brings nothing in time decides nothing (Tansu's fetches can
        take seconds under load). A partition
        this process has not read yet is looked up at the offset before its position (committed earlier): a
        log that ends before it, or holds a record there written after the partition came to this process
        (`_FirstAssignments`), was replaced."""
        if self.consumer is None or not (force or self._rewind_check_due()):
            return []
        self._rewind_checked_at = asyncio.get_running_loop().time()
        offsets = {}
        for tp in self.consumer.assignment():
            if tp in self._noted:
                offsets[tp] = self._noted[tp].offset
            elif (position := await self.consumer.position(tp)) > 0:
                offsets[tp] = position - 1
        if not offsets:
            return []
        now_there = await self._records_at(offsets)
        assert self._probe is not None
        rewound, why = [], {}
        for tp, offset in offsets.items():
            there, noted = now_there.get(tp), self._noted.get(tp)
            if there is None:  # nothing read in time: gone only if this check's fetch says the log ends before it
                if (end := self._probe.highwater(tp)) is not None and end <= offset:
                    rewound.append(tp)
                    why[f"{tp.topic}:{tp.partition}"] = f"nothing at {offset}, the log ends at {end}"
                continue
            if noted is None and tp not in self._last_read and self._assignments.written_since(tp, there.timestamp):
                rewound.append(tp)  # below a position committed before it came to us, yet written since: a new log
                why[f"{tp.topic}:{tp.partition}"] = f"{there} written after the partition came here"
            elif noted is None or there == noted:
                self._noted[tp] = self._last_read.get(tp, there)
            else:
                rewound.append(tp)
                why[f"{tp.topic}:{tp.partition}"] = f"{there} where {noted} was"
        if rewound:
            for tp in rewound:
                self._noted.pop(tp, None)
                self._last_read.pop(tp, None)
            await self.consumer.seek_to_beginning(*rewound)
            REWOUND.labels(self.name).inc(len(rewound))
            log.warning(
                "the broker's log no longer holds a record this group read; re-reading from the earliest offset",
                extra={"consumer": self.name, "partitions": why},
            )
        return rewound

    async def _records_at(self, offsets: dict[TopicPartition, int]) -> dict[TopicPartition, _Read]:
        """The record now at each partition's offset, for the partitions that have one there."""
        if self._probe is None:
            self._probe = new_consumer(self.settings, group_id=None)
            await self._probe.start()
        self._probe.assign(list(offsets))
        for tp, offset in offsets.items():
            self._probe.seek(tp, offset)
        found: dict[TopicPartition, _Read] = {}
        with contextlib.suppress(TimeoutError):  # a partition with nothing at its offset stays out of `found`
            async with asyncio.timeout(1.0):
                while len(found) < len(offsets):
                    batches = await self._probe.getmany(*[tp for tp in offsets if tp not in found], timeout_ms=200)
                    for tp, records in batches.items():
                        if records and tp not in found:
                            found[tp] = _Read.of(records[0])
        return found

    async def _poll(self, timeout_ms: int) -> tuple[list[ConsumerRecord], dict]:
        assert self.consumer is not None
        batches = await self.consumer.getmany(timeout_ms=timeout_ms, max_records=self.settings.consumer_batch_size)
        records = [record for partition in batches.values() for record in partition]
        for tp, partition in batches.items():
            self._last_read[tp] = _Read.of(partition[-1])
            self._noted.setdefault(tp, self._last_read[tp])
        return records, {tp: partition[-1].offset + 1 for tp, partition in batches.items()}

    async def _apply_and_commit(
        self, parsed: list[tuple[ConsumerRecord, CloudEvent]], unreadable: list[_Failure], offsets: dict
    ) -> int:
        await self._settle(await self._apply_parsed(parsed, unreadable))
        await self._commit(offsets)
        return len(parsed) + len(unreadable)

    async def _commit(self, offsets: dict) -> None:
        """aiokafka retries a retriable commit error for ever (seen after a broker restart: the group kept
        failing with UnknownTopicOrPartition). Give up after a bound and let `_run` reconnect: the effects
        are committed already, and a redelivery is a no-op."""
        assert self.consumer is not None
        async with asyncio.timeout(2 * self.settings.kafka_request_timeout_ms / 1000):
            await self.consumer.commit(offsets)
        self._committed.update(offsets)
        self._note_lag()

    def _note_lag(self) -> None:
        """Lag per assigned partition from the high watermark the last fetch reported: what an on-call engineer
        watches to see a consumer falling behind or stuck (a partition revoked keeps its last figure)."""
        assert self.consumer is not None
        for tp in self.consumer.assignment():
            end, done = self.consumer.highwater(tp), self._committed.get(tp)
            if end is not None and done is not None:
                LAG.labels(self.name, tp.topic, str(tp.partition)).set(max(0, end - done))

    async def apply(self, records: list[ConsumerRecord]) -> None:
        parsed, unreadable = await self._parse(records)
        await self._settle(await self._apply_parsed(parsed, unreadable))

    async def _settle(self, failures: list[_Failure]) -> None:
        # Dead letters keep the source order within each partition.
        for failure in sorted(failures, key=lambda f: (f.record.topic, f.record.partition, f.record.offset)):
            await self._retry_or_dead_letter(failure)

    def wants(self, event_type: str) -> bool:
        return self.recorder is not None or event_type in self.handlers or event_type in self.batch_handlers

    async def _parse(
        self, records: list[ConsumerRecord]
    ) -> tuple[list[tuple[ConsumerRecord, CloudEvent]], list[_Failure]]:
        """The events this consumer acts on. A topic carries many types a consumer has no handler for (matching
        reads `ledger.events` for two of its types): those are passed over — without parsing when the record's
        type header (servicekit.events.TYPE_HEADER; the relay sets it) names the type — and not recorded in
        `processed_events`: applying nothing twice is harmless."""
        parsed: list[tuple[ConsumerRecord, CloudEvent]] = []
        unreadable: list[_Failure] = []
        everything = self.recorder is not None  # wants every type: no header to look at
        for n, record in enumerate(records):
            if n and n % _YIELD_EVERY == 0:
                await asyncio.sleep(0)
            if not everything and (declared := _declared_type(record)) is not None and not self.wants(declared):
                continue
            try:
                event = self.parse(record.value)
            except (ValidationError, ValueError) as exc:
                unreadable.append(_Failure(record, f"unreadable event: {exc}"))
                continue
            if everything or self.wants(event.type):
                parsed.append((record, event))
        return parsed, unreadable

    async def _apply_parsed(
        self, parsed: list[tuple[ConsumerRecord, CloudEvent]], unreadable: list[_Failure]
    ) -> list[_Failure]:
        failures = list(unreadable)
        if not parsed:
            return failures
        attempt = outage = 0
        while True:
            try:
                async with self.db.transaction() as session:
                    await self._apply_together(session, [event for _, event in parsed])
                return failures
            except Exception as exc:
                if is_transient(exc) and attempt < TRANSIENT_RETRIES:
                    CONFLICTS.labels(self.name).inc()
                    await conflict_backoff(attempt)
                    attempt += 1
                    continue
                if is_unavailable(exc):
                    # The database is down or restarting: no event's fault, so none is retried alone or
                    # dead-lettered; the batch waits (its offsets uncommitted) until the database is back.
                    if self._stopping:
                        raise asyncio.CancelledError from exc  # uncommitted: redelivered after the restart
                    if outage == 0:
                        log.warning(
                            "database unavailable; holding the batch until it is back",
                            extra={"consumer": self.name, "error": f"{type(exc).__name__}: {exc}"[:200]},
                        )
                    await asyncio.sleep(min(OUTAGE_MAX_BACKOFF_S, 0.1 * 2 ** min(outage, 6)))
                    outage += 1
                    continue
                log.warning(
                    "batch failed; applying its events one by one", extra={"consumer": self.name}, exc_info=True
                )
                failures += await self._apply_one_by_one(parsed)
                return failures

    async def _apply_together(self, session: AsyncSession, events: list[CloudEvent]) -> None:
        """The fast path: one statement marks the batch processed; handlers run for the events it marked."""
        fresh = await self._fresh(session, events)
        if len(fresh) < len(events):
            DUPLICATES.labels(self.name).inc(len(events) - len(fresh))
        if self.recorder is not None:
            if fresh:
                await self.recorder.record(session, fresh)
            return
        run: list[CloudEvent] = []
        for event in fresh:
            if run and (event.type != run[0].type or event.type not in self.batch_handlers):
                await self._dispatch(session, run)
                run = []
            run.append(event)
        if run:
            await self._dispatch(session, run)

    async def _fresh(self, session: AsyncSession, events: list[CloudEvent]) -> list[CloudEvent]:
        """The events not applied before, each once (a duplicate inside the batch too)."""
        if self.recorder is not None:
            candidates = await self.recorder.unseen(session, events)
            new_ids = {e.id for e in candidates}
        else:
            result = await session.execute(
                _MARK_BATCH_PROCESSED,
                {"consumer": self.name, "ids": [e.id for e in events], "types": [e.type for e in events]},
            )
            new_ids = {row[0] for row in result}
        fresh: list[CloudEvent] = []
        for event in events:
            if event.id in new_ids:
                new_ids.discard(event.id)
                fresh.append(event)
        return fresh

    async def _dispatch(self, session: AsyncSession, events: list[CloudEvent]) -> None:
        """Run the handler for consecutive events of one type (a batch handler gets them together)."""
        batch_handler = self.batch_handlers.get(events[0].type)
        if batch_handler is not None:
            token = traceparent_var.set(events[-1].traceparent)
            try:
                await batch_handler(session, events)
            finally:
                traceparent_var.reset(token)
            APPLIED.labels(self.name, events[0].type).inc(len(events))
            return
        for event in events:
            handler = self.handlers.get(event.type)
            if handler is None:
                continue
            token = traceparent_var.set(event.traceparent)
            try:
                await handler(session, event)
            finally:
                traceparent_var.reset(token)
            APPLIED.labels(self.name, event.type).inc()

    async def _apply_one_by_one(self, parsed: list[tuple[ConsumerRecord, CloudEvent]]) -> list[_Failure]:
        failures: list[_Failure] = []
        async with self.db.transaction() as session:
            for record, event in parsed:
                try:
                    async with session.begin_nested():
                        await self._apply_one(session, event)
                except Exception as exc:
                    failures.append(
                        _Failure(
                            record,
                            f"{type(exc).__name__}: {exc}",
                            transient=is_transient(exc),
                            unavailable=is_unavailable(exc),
                        )
                    )
        return failures

    async def _apply_one(self, session: AsyncSession, event: CloudEvent) -> bool:
        """Apply one event's effects in `session`; False when it was already processed."""
        if self.recorder is not None:
            first_time = bool(await self.recorder.unseen(session, [event]))
        else:
            marked = await session.execute(
                _MARK_PROCESSED, {"consumer": self.name, "event_id": event.id, "event_type": event.type}
            )
            first_time = marked.first() is not None
        if not first_time:
            DUPLICATES.labels(self.name).inc()
            return False
        if self.recorder is not None:
            await self.recorder.record(session, [event])
        else:
            await self._dispatch(session, [event])
        return True

    async def _retry_or_dead_letter(self, failure: _Failure) -> None:
        error = failure.error
        if not error.startswith("unreadable"):
            attempt, conflicts = 0, 0
            while attempt < self.settings.consumer_max_retries:
                if failure.unavailable:  # the database is away: no attempt spent, never dead-lettered
                    if self._stopping:
                        raise asyncio.CancelledError  # uncommitted: redelivered after the restart
                    await asyncio.sleep(OUTAGE_MAX_BACKOFF_S)
                elif failure.transient and conflicts < TRANSIENT_RETRIES:
                    await conflict_backoff(conflicts)  # a conflict is not the event's fault: no attempt spent
                    conflicts += 1
                else:
                    await asyncio.sleep(self.settings.consumer_retry_backoff_s * (2**attempt))
                    attempt += 1
                try:
                    event = self.parse(failure.record.value)
                    async with self.db.transaction() as session:
                        await self._apply_one(session, event)
                    return
                except Exception as exc:
                    error = f"{type(exc).__name__}: {exc}"
                    failure = _Failure(
                        failure.record, error, transient=is_transient(exc), unavailable=is_unavailable(exc)
                    )
        await self._dead_letter(failure.record, error)

    async def _dead_letter(
        self, record: ConsumerRecord, error: str, original: tuple[str, str, str] | None = None
    ) -> None:
        if self._dlq_producer is None:
            self._dlq_producer = new_producer(self.settings)
            await self._dlq_producer.start()
        topic, partition, offset = original or (record.topic, str(record.partition), str(record.offset))
        headers = [
            CONTENT_TYPE_HEADER,  # the letter is the event as it came: still a structured-mode CloudEvent
            ("dlq_consumer", self.name.encode()),
            ("dlq_error", error[:1000].encode()),
            ("dlq_original_topic", topic.encode()),
            ("dlq_original_partition", partition.encode()),
            ("dlq_original_offset", offset.encode()),
        ]
        await self._dlq_producer.send_and_wait(dlq_topic(topic), value=record.value, key=record.key, headers=headers)
        DEAD_LETTERED.labels(self.name).inc()
        log.error(
            "event dead-lettered",
            extra={"consumer": self.name, "topic": record.topic, "offset": record.offset, "error": error},
        )

    # -- dead letters waiting (a gauge for the on-call engineer) ---------------------------------------
    async def _watch_dead_letters(self) -> None:
        while not self._stopping:
            try:
                await self.dead_letters_waiting()
            except asyncio.CancelledError:
                raise
            except Exception:  # the broker away: the next look will tell
                log.debug("dead-letter count failed", extra={"consumer": self.name}, exc_info=True)
            await asyncio.sleep(self.settings.consumer_dlq_check_interval_s)

    async def dead_letters_waiting(self) -> dict[str, int]:
        """Per dead-letter topic of this consumer, the records after its replay group's committed position (all
        of them while it never replayed), as the `consumer_dead_letters_waiting` gauge reports them."""
        if self._dlq_probe is None:
            self._dlq_probe = new_consumer(self.settings, group_id=None)
            await self._dlq_probe.start()
        if self._admin is None:
            self._admin = AIOKafkaAdminClient(
                bootstrap_servers=self.settings.kafka_bootstrap_servers,
                request_timeout_ms=self.settings.kafka_request_timeout_ms,
            )
            await self._admin.start()
        partitions = await _partitions(self._dlq_probe, [dlq_topic(topic) for topic in self.topics])
        if not partitions:
            return {}
        ends = await self._dlq_probe.end_offsets(partitions)
        replayed = await self._admin.list_consumer_group_offsets(f"{self.name}.dlq-replay", partitions=partitions)
        waiting: dict[str, int] = {}
        for tp in partitions:
            done = replayed.get(tp)
            position = done.offset if done is not None and done.offset >= 0 else 0
            waiting[tp.topic] = waiting.get(tp.topic, 0) + max(0, ends[tp] - position)
        for topic, count in waiting.items():
            DLQ_WAITING.labels(self.name, topic).set(count)
        return waiting

    # -- after a restore (operator CLI) --------------------------------------------------------------
    async def rewind_group_to(self, moment: datetime, *, timeout_s: float = 30) -> dict[TopicPartition, int]:
        """Set this consumer's group back to the first record at or after `moment` in every partition of its
        topics (a partition with nothing since: its end), and return the offsets committed.

        For a database restored from a backup taken at `moment`: the events applied since are applied again,
        and the idempotent consumer drops those the backup already holds. The group is joined as a member (some
        brokers, Tansu among them, take commits only from members), so it must be the only one: with the
        service still running, its partitions would be shared, and the rewind refuses."""
        consumer = new_consumer(self.settings, *self.topics, group_id=self.name)
        await consumer.start()
        try:
            partitions = set(await _partitions(consumer, self.topics))
            deadline = asyncio.get_running_loop().time() + timeout_s
            while consumer.assignment() != partitions:  # records fetched meanwhile are not committed
                if asyncio.get_running_loop().time() > deadline:
                    raise RuntimeError(
                        f"{self.name}: the group did not hand this command all of its partitions "
                        f"({len(consumer.assignment())} of {len(partitions)}): stop the service first"
                    )
                await consumer.getmany(timeout_ms=200)
            since = await consumer.offsets_for_times({tp: int(moment.timestamp() * 1000) for tp in partitions})
            ends = await consumer.end_offsets(list(partitions))
            offsets = {tp: found.offset if (found := since.get(tp)) is not None else ends[tp] for tp in partitions}
            await consumer.commit(offsets)
            return offsets
        finally:
            await consumer.stop()

    # -- DLQ replay (operator CLI) -----------------------------------------------------------------
    async def replay_dead_letters(self, *, idle_timeout_ms: int = 3000) -> tuple[int, int]:
        """Re-apply this consumer's dead letters present when the replay starts; returns (applied, still failing).

        A letter that still fails is appended to the DLQ again (with its new error) so it never blocks the
        letters behind it; progress is committed under group `<name>.dlq-replay`."""
        consumer = new_consumer(self.settings, *[dlq_topic(t) for t in self.topics], group_id=f"{self.name}.dlq-replay")
        await consumer.start()
        applied = failing = 0
        try:
            await self._wait_for_assignment(consumer, idle_timeout_ms)
            ends = await consumer.end_offsets(list(consumer.assignment()))
            remaining = {tp for tp, end in ends.items() if await consumer.position(tp) < end}
            while remaining:
                batches = await consumer.getmany(*remaining, timeout_ms=idle_timeout_ms)
                if not batches:
                    break
                for tp, records in batches.items():
                    for record in records:
                        if record.offset >= ends[tp]:
                            break
                        if dict(record.headers).get("dlq_consumer", b"").decode() == self.name:
                            ok, error = await self._replay_one(record)
                            if ok:
                                applied += 1
                            else:
                                failing += 1
                                await self._dead_letter(record, error, original=_original_position(record))
                        await consumer.commit({tp: record.offset + 1})
                    if await consumer.position(tp) >= ends[tp]:
                        remaining.discard(tp)
        finally:
            await consumer.stop()
            if self._dlq_producer is not None:
                await self._dlq_producer.stop()
                self._dlq_producer = None
        return applied, failing

    @staticmethod
    async def _wait_for_assignment(consumer: AIOKafkaConsumer, timeout_ms: int) -> None:
        deadline = asyncio.get_running_loop().time() + timeout_ms / 1000 * 5
        while not consumer.assignment() and asyncio.get_running_loop().time() < deadline:
            await consumer.getmany(timeout_ms=100)

    async def _replay_one(self, record: ConsumerRecord) -> tuple[bool, str]:
        try:
            event = self.parse(record.value)
            async with self.db.transaction() as session:
                await self._apply_one(session, event)
            return True, ""
        except Exception as exc:
            log.warning("dead letter still fails", extra={"consumer": self.name, "offset": record.offset})
            return False, f"{type(exc).__name__}: {exc}"


async def _partitions(client: AIOKafkaConsumer, topics: list[str]) -> list[TopicPartition]:
    """Every partition of `topics` the broker knows, whether or not `client` is assigned them."""
    await client.topics()  # loads the metadata that partitions_for_topic reads
    return [TopicPartition(topic, p) for topic in topics for p in sorted(client.partitions_for_topic(topic) or ())]


def _declared_type(record: ConsumerRecord) -> str | None:
    for key, value in record.headers or ():
        if key in _TYPE_HEADERS:
            return value.decode(errors="replace")
    return None


_TYPE_HEADERS = (TYPE_HEADER, "ce_type")  # records relayed before the move to structured mode carry `ce_type`


def _original_position(record: ConsumerRecord) -> tuple[str, str, str]:
    headers = dict(record.headers)
    return (
        headers.get("dlq_original_topic", record.topic.encode()).decode(),
        headers.get("dlq_original_partition", b"").decode(),
        headers.get("dlq_original_offset", b"").decode(),
    )
