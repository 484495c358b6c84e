"""A fresh audit database on the real PostgreSQL, and `audit.feed(events)`: events applied through audit's
real consumer path (de-duplication, the hash chain, the rules) exactly as polls from Kafka would be, without
waiting for a broker — the events carry their own times."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from aiokafka import ConsumerRecord
from sqlalchemy import text

from audit.domain import trail
from audit.events import audit_consumer
from audit.judging import Judge
from audit.settings import AuditSettings
from servicekit.db import Database
from servicekit.events import CloudEvent
from servicekit.migrations import upgrade_to_head

SETTINGS = dict(district_overrides={"110105": {"allow_documented_night_items": True}}, checkpoint_every=10)


def as_records(events: list[CloudEvent], *, first_offset: int = 0) -> list[ConsumerRecord]:
    """The events as one poll from Kafka would hand them over."""
    return [
        ConsumerRecord(
            topic=f"{e.source}.events",
            partition=0,
            offset=first_offset + i,
            timestamp=0,
            timestamp_type=0,
            key=None,
            value=e.to_bytes(),
            checksum=None,
            serialized_key_size=0,
            serialized_value_size=0,
            headers=[],
        )
        for i, e in enumerate(events)
    ]


async def fresh_audit(infra, **overrides) -> SimpleNamespace:
    url = infra.create_database("audit_unit")
    settings = AuditSettings(database_url=url, **{**SETTINGS, **overrides})
    await asyncio.to_thread(upgrade_to_head, settings.migrations_path, url)
    db = Database(url, pool_size=5)
    signer = trail.CheckpointSigner(settings.checkpoint_keys, settings.checkpoint_active_key)

    consumer = audit_consumer(db, settings, topics=["unused"])
    judge = Judge(db, settings)

    async def feed(events: list[CloudEvent], *, poll: int = 200, judge_each: bool = True) -> None:
        """Each poll appended to the trail, then judged (as the service's judge does after each commit) unless
        told not to (`judge.catch_up()` later judges everything appended since)."""
        for start in range(0, len(events), poll):
            await consumer.apply(as_records(events[start : start + poll], first_offset=start))
            if judge_each:
                await judge.catch_up()

    async def alerts() -> list[dict]:
        async with db.transaction() as session:
            rows = (
                (
                    await session.execute(
                        text(
                            "SELECT rule, key, severity, district, people, institution_id, evidence, request_ids, first_at, last_at,"
                            " summary FROM alerts ORDER BY rule, key"
                        )
                    )
                )
                .mappings()
                .all()
            )
        return [dict(r) for r in rows]

    async def verify() -> trail.Verification:
        async with db.transaction() as session:
            return await trail.verify(session, signer)

    async def tamper(sql: str, **params) -> None:
        """Change the stored log as someone with full database rights could (triggers off)."""
        async with db.engine.begin() as conn:
            await conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
            await conn.execute(text(sql), params)
            await conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only"))

    return SimpleNamespace(
        db=db,
        settings=settings,
        feed=feed,
        judge=judge,
        alerts=alerts,
        verify=verify,
        tamper=tamper,
        signer=signer,
        as_records=as_records,
    )


@pytest.fixture
async def audit(infra):
    made = await fresh_audit(infra)
    yield made
    await made.db.dispose()


@pytest.fixture
async def audit_with(infra):
    """A fresh audit with settings of the test's own: `await audit_with(district_overrides={...})`."""
    made: list[SimpleNamespace] = []

    async def make(**overrides) -> SimpleNamespace:
        made.append(await fresh_audit(infra, **overrides))
        return made[-1]

    yield make
    for audit in made:
        await audit.db.dispose()
