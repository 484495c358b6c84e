"""Idempotent event consumer.

A batch from one partition is applied in one transaction, each event inside its own savepoint. The
event id goes into `processed_events` (primary key: consumer, event_id) in the same transaction as the
handler's effects, so a redelivered event is a no-op. Offsets are committed only after that transaction
commits. An event whose handler keeps failing is retried, then sent to `<topic>.dlq` with the error.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from prometheus_client import Counter
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.context import traceparent_var
from servicekit.db import Database
from servicekit.events import CloudEvent
from servicekit.kafka import new_consumer, new_producer
from servicekit.settings import ServiceSettings

log = logging.getLogger(__name__)

Handler = Callable[[AsyncSession, CloudEvent], Awaitable[None]]

APPLIED = Counter("consumer_events_applied_total", "Events whose effects were committed", ["consumer", "type"])
DUPLICATES = Counter("consumer_events_duplicate_total", "Redelivered events skipped", ["consumer"])
DEAD_LETTERED = Counter("consumer_events_dead_lettered_total", "Events sent to a DLQ", ["consumer"])

_MARK_PROCESSED = text(
    "INSERT INTO processed_events (consumer, event_id, event_type) VALUES (:consumer, :event_id, :event_type) "
    "ON CONFLICT DO NOTHING RETURNING 1"
)

DLQ_SUFFIX = ".dlq"


def dlq_topic(topic: str) -> str:
    return topic + DLQ_SUFFIX


@dataclass
class _Failure:
    record: ConsumerRecord
    error: str


class EventConsumer:
    """Consumes `topics` as consumer group `name`, dispatching events by CloudEvents type."""

    def __init__(self, *, name: str, topics: list[str], handlers: dict[str, Handler], db: Database,
                 settings: ServiceSettings) -> None:
        self.name = name
        self.topics = topics
        self.handlers = handlers
        self.db = db
        self.settings = settings
        self.consumer: AIOKafkaConsumer | None = None
        self._dlq_producer: AIOKafkaProducer | None = None
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"consumer-{self.name}")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        await self._close()

    async def _open(self) -> None:
        self.consumer = new_consumer(self.settings, *self.topics, group_id=self.name)
        await self.consumer.start()

    async def _close(self) -> None:
        if self.consumer is not None:
            try:
                await self.consumer.stop()
            except Exception:
                log.debug("consumer stop failed", exc_info=True)
            self.consumer = None
        if self._dlq_producer is not None:
            await self._dlq_producer.stop()
            self._dlq_producer = None

    async def _run(self) -> None:
        while True:
            try:
                if self.consumer is None:
                    await self._open()
                await self.poll_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # broker gone or restarted: reconnect and resume from committed offsets
                log.warning("consumer round failed; reconnecting", extra={"consumer": self.name}, exc_info=True)
                await self._close()
                await asyncio.sleep(1.0)

    # -- one poll ----------------------------------------------------------------------------------
    async def poll_once(self, *, commit: bool = True, timeout_ms: int = 500) -> int:
        """Fetch, apply and (unless told not to) commit one round; returns events seen."""
        assert self.consumer is not None
        batches = await self.consumer.getmany(timeout_ms=timeout_ms, max_records=500)
        seen = 0
        for tp, records in batches.items():
            await self.apply(records)
            seen += len(records)
            if commit:
                await self.consumer.commit({tp: records[-1].offset + 1})
        return seen

    async def apply(self, records: list[ConsumerRecord]) -> None:
        failures = await self._apply_batch(records)
        for failure in failures:
            await self._retry_or_dead_letter(failure)

    async def _apply_batch(self, records: list[ConsumerRecord]) -> list[_Failure]:
        failures: list[_Failure] = []
        async with self.db.transaction() as session:
            for record in records:
                try:
                    event = CloudEvent.from_bytes(record.value)
                except (ValidationError, ValueError) as exc:
                    failures.append(_Failure(record, f"unreadable event: {exc}"))
                    continue
                try:
                    async with session.begin_nested():
                        await self._apply_one(session, event)
                except Exception as exc:
                    failures.append(_Failure(record, f"{type(exc).__name__}: {exc}"))
        return failures

    async def _apply_one(self, session: AsyncSession, event: CloudEvent) -> bool:
        """Apply one event's effects in `session`; False when it was already processed."""
        handler = self.handlers.get(event.type)
        first = (await session.execute(
            _MARK_PROCESSED, {"consumer": self.name, "event_id": event.id, "event_type": event.type}
        )).first()
        if first is None:
            DUPLICATES.labels(self.name).inc()
            return False
        if handler is not None:
            token = traceparent_var.set(event.traceparent)
            try:
                await handler(session, event)
            finally:
                traceparent_var.reset(token)
            APPLIED.labels(self.name, event.type).inc()
        return True

    async def _retry_or_dead_letter(self, failure: _Failure) -> None:
        error = failure.error
        if not error.startswith("unreadable"):
            for attempt in range(self.settings.consumer_max_retries):
                await asyncio.sleep(self.settings.consumer_retry_backoff_s * (2**attempt))
                try:
                    event = CloudEvent.from_bytes(failure.record.value)
                    async with self.db.transaction() as session:
                        await self._apply_one(session, event)
                    return
                except Exception as exc:
                    error = f"{type(exc).__name__}: {exc}"
        await self._dead_letter(failure.record, error)

    async def _dead_letter(self, record: ConsumerRecord, error: str) -> None:
        if self._dlq_producer is None:
            self._dlq_producer = new_producer(self.settings)
            await self._dlq_producer.start()
        headers = [
            ("dlq_consumer", self.name.encode()),
            ("dlq_error", error[:1000].encode()),
            ("dlq_original_topic", record.topic.encode()),
            ("dlq_original_partition", str(record.partition).encode()),
            ("dlq_original_offset", str(record.offset).encode()),
        ]
        await self._dlq_producer.send_and_wait(dlq_topic(record.topic), value=record.value, key=record.key, headers=headers)
        DEAD_LETTERED.labels(self.name).inc()
        log.error("event dead-lettered", extra={"consumer": self.name, "topic": record.topic,
                                                "offset": record.offset, "error": error})

    # -- DLQ replay (operator CLI) -----------------------------------------------------------------
    async def replay_dead_letters(self, *, idle_timeout_ms: int = 3000) -> tuple[int, int]:
        """Re-apply this consumer's dead letters; returns (applied, still failing).

        Progress is committed under group `<name>.dlq-replay`; letters that still fail are left in
        place (their offsets are not committed past the first failure) so a later replay sees them."""
        consumer = new_consumer(self.settings, *[dlq_topic(t) for t in self.topics], group_id=f"{self.name}.dlq-replay")
        await consumer.start()
        applied = failing = 0
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=idle_timeout_ms)
                if not batches:
                    break
                for tp, records in batches.items():
                    last_ok: int | None = None
                    for record in records:
                        if dict(record.headers).get("dlq_consumer", b"").decode() != self.name:
                            last_ok = record.offset
                            continue
                        try:
                            async with self.db.transaction() as session:
                                await self._apply_one(session, CloudEvent.from_bytes(record.value))
                            applied += 1
                            last_ok = record.offset
                        except Exception:
                            log.exception("dead letter still fails", extra={"offset": record.offset})
                            failing += 1
                            break
                    if last_ok is not None:
                        await consumer.commit({TopicPartition(tp.topic, tp.partition): last_ok + 1})
                if failing:
                    break
        finally:
            await consumer.stop()
        return applied, failing
