from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from servicekit.db import Database
from servicekit.migrations import create_messaging_tables, create_outbox_marks
from servicekit.settings import ServiceSettings


def _create_tables(connection) -> None:
    with Operations.context(MigrationContext.configure(connection)):
        create_messaging_tables()
        create_outbox_marks()
        Operations(MigrationContext.configure(connection)).execute(
            "CREATE TABLE effects (event_id uuid PRIMARY KEY, subject text NOT NULL)"
        )


class Kit:
    def __init__(self, settings: ServiceSettings, db: Database) -> None:
        self.settings, self.db = settings, db

    def __iter__(self):
        return iter((self.settings, self.db))

    async def scalar(self, sql: str, **params):
        async with self.db.transaction() as session:
            return (await session.execute(text(sql), params)).scalar()


@pytest.fixture
async def kit(infra) -> AsyncIterator[Kit]:
    """A fresh database with the messaging tables, and settings pointing at the test broker."""
    url = infra.create_database("kit")
    name = f"kit{uuid.uuid4().hex[:6]}"
    settings = ServiceSettings(
        service_name=name,
        database_url=url,
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        outbox_poll_interval_s=0.1,
        outbox_max_backoff_s=0.5,
        consumer_retry_backoff_s=0.01,
        kafka_request_timeout_ms=2000,
        kafka_fetch_max_wait_ms=50,
    )
    db = Database(url, pool_size=5)
    async with db.engine.begin() as conn:
        await conn.run_sync(_create_tables)
    yield Kit(settings, db)
    await db.dispose()
