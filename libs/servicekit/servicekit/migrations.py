"""Alembic plumbing shared by every service's migrations/env.py, and the messaging tables they all own."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from alembic import command, context
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

# Any fixed number: each service has a database of its own, so one key serves them all.
MIGRATION_LOCK = 0x74696D6562616E6B  # "timebank"


def alembic_config(script_location: str, database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", script_location)
    config.attributes["database_url"] = database_url
    return config


def upgrade_to_head(script_location: str, database_url: str) -> None:
    command.upgrade(alembic_config(script_location, database_url), "head")


def run_env(target_metadata: sa.MetaData | None, default_url: str) -> None:
    """Body of every env.py: online migrations over asyncpg, offline SQL generation otherwise."""
    url = context.config.attributes.get("database_url") or default_url
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return

    def migrate(connection: Connection) -> None:
        context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
        with context.begin_transaction():
            # Replicas started together migrate one at a time: the others wait here, then read the version the
            # first one committed and have nothing left to do. A transaction lock, so a killed migrator frees it.
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            context.run_migrations()

    async def online() -> None:
        engine = create_async_engine(url)
        async with engine.connect() as connection:
            await connection.run_sync(migrate)
            await connection.commit()
        await engine.dispose()

    asyncio.run(online())


def create_messaging_tables() -> None:
    """The transactional outbox and the idempotent consumer's processed-events table."""
    from alembic import op

    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("event_id", sa.Uuid, nullable=False, unique=True),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("last_error", sa.Text),
        sa.Column("published_at", sa.DateTime(timezone=True)),
    )
    op.create_index("outbox_pending", "outbox", ["id"], postgresql_where=sa.text("published_at IS NULL"))
    op.create_index("outbox_pending_by_key", "outbox", ["key", "id"], postgresql_where=sa.text("published_at IS NULL"))
    op.create_index("outbox_published_at", "outbox", ["published_at"])
    op.create_table(
        "processed_events",
        sa.Column("consumer", sa.Text, primary_key=True),
        sa.Column("event_id", sa.Uuid, primary_key=True),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )


def create_outbox_marks() -> None:
    """The highest offset the broker acknowledged to this service's relays, per partition: a broker whose log
    now ends below it has lost acknowledged events (servicekit.outbox)."""
    from alembic import op

    op.execute(
        "CREATE TABLE outbox_marks (topic text NOT NULL, partition integer NOT NULL, "
        "acked_offset bigint NOT NULL, PRIMARY KEY (topic, partition))"
    )


def create_idempotency_keys() -> None:
    """Keys of creates a client may retry (servicekit.idempotency): the first answer, kept with the change."""
    from alembic import op

    op.execute(
        "CREATE TABLE idempotency_keys (caller text NOT NULL, key text NOT NULL, fingerprint bytea NOT NULL, "
        "status integer, response text, created_at timestamptz NOT NULL DEFAULT now(), "
        "PRIMARY KEY (caller, key))"
    )


def drop_messaging_tables() -> None:
    from alembic import op

    op.drop_table("processed_events")
    op.drop_table("outbox")
