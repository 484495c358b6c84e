"""Queries on the hash-chained audit log, its head and its signed checkpoints."""

from __future__ import annotations

import operator
import uuid
from datetime import datetime

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.pagination import PageRequest

_RECORD_FIELDS = (
    "seq",
    "event_id",
    "topic",
    "type",
    "subject",
    "actor",
    "acting_for",
    "occurred_at",
    "recorded_at",
    "payload",
    "prev_hash",
    "hash",
)


_RECORD_ROW = operator.itemgetter(*_RECORD_FIELDS)  # a record as a row tuple, in C


async def copy_rows(session: AsyncSession, table: str, columns: list[str], rows: list[tuple]) -> None:
    """Insert many rows with PostgreSQL's binary COPY, in the session's transaction. For bulk appends with no
    conflict to resolve, as the trail's records are: 13,468 records took 0.21 s (PostgreSQL) and 0.07 s (Python)
    against 0.45 s and 0.10 s as one INSERT ... SELECT FROM unnest(arrays)."""
    if not rows:
        return
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None  # asyncpg's connection, the one driver the services use
    if not driver.is_in_transaction():
        await session.execute(text("SELECT 1"))  # the driver adapter begins lazily, at the first statement
    await driver.copy_records_to_table(table, columns=columns, records=rows)


async def lock_head(session: AsyncSession) -> tuple[int, bytes]:
    """The chain's head, locked: appends serialise on it (one lock per consumed batch)."""
    head = (await session.execute(text("SELECT seq, hash FROM chain_head WHERE id = 1 FOR UPDATE"))).one()
    return head.seq, bytes(head.hash)


async def read_one_snapshot(session: AsyncSession) -> None:
    """Make the transaction's reads one snapshot (its first statement): checkpoints, head and records as they stood
    together, whatever is appended meanwhile."""
    await session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))


async def head(session: AsyncSession) -> tuple[int, bytes]:
    row = (await session.execute(text("SELECT seq, hash FROM chain_head WHERE id = 1"))).one()
    return row.seq, bytes(row.hash)


async def lock_head_and_known(session: AsyncSession, ids: list[uuid.UUID]) -> tuple[tuple[int, bytes], set[uuid.UUID]]:
    """The chain's head, locked, and which of `ids` the trail holds, with one statement. The ids are read in
    the statement's snapshot, taken before the lock is granted: records another replica appended while this
    waited for the lock are not among them (the event-id key then refuses the append: `DuplicateEvents`)."""
    row = (
        await session.execute(
            text(
                "SELECT seq, hash, ARRAY(SELECT event_id FROM audit_log WHERE event_id = ANY(:ids)) FROM chain_head"
                " WHERE id = 1 FOR UPDATE"
            ),
            {"ids": ids},
        )
    ).one()
    return (row[0], bytes(row[1])), set(row[2])


class DuplicateEvents(Exception):
    """The trail holds records of some of these events already (a redelivery, or another replica appended
    them meanwhile): retrying the transaction, asking the trail which first, resolves it (hence
    serialization_failure's SQLSTATE, which `servicekit.db.is_transient` recognises)."""

    sqlstate = "40001"


async def insert_records(session: AsyncSession, records: list[dict]) -> None:
    """Records (dicts with the log's columns), copied in: the trail only ever appends."""
    try:
        await copy_rows(session, "audit_log", list(_RECORD_FIELDS), list(map(_RECORD_ROW, records)))
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == "audit_log_event_id_key":
            raise DuplicateEvents(str(exc)) from exc
        raise


async def move_head(
    session: AsyncSession, seq: int, digest: bytes, signed: list[tuple[int, bytes, bytes]], *, key_id: str, at: datetime
) -> None:
    """Move the head to (seq, digest) and keep the checkpoints signed on the way (seq, hash, signature), with
    one statement (one round trip less per appended poll)."""
    seqs, hashes, signatures = (list(column) for column in zip(*signed, strict=True)) if signed else ([], [], [])
    await session.execute(
        text(
            "WITH head AS (UPDATE chain_head SET seq = :seq, hash = :digest WHERE id = 1)"
            " INSERT INTO checkpoints (seq, hash, signature, key_id, created_at)"
            " SELECT s, h, sig, :k, :at FROM unnest(CAST(:s AS bigint[]), CAST(:h AS bytea[]), CAST(:sig AS bytea[]))"
            " AS c(s, h, sig)"
        ),
        {"seq": seq, "digest": digest, "s": seqs, "h": hashes, "sig": signatures, "k": key_id, "at": at},
    )


async def checkpoints(session: AsyncSession) -> dict[int, object]:
    """seq -> row (seq, hash, signature, key_id)."""
    return {
        row.seq: row
        for row in (
            await session.execute(text("SELECT seq, hash, signature, key_id FROM checkpoints ORDER BY seq"))
        ).all()
    }


async def records_after(session: AsyncSession, after: int, limit: int) -> list:
    return list(
        (
            await session.execute(
                text(
                    "SELECT seq, event_id, topic, type, subject, actor, acting_for, occurred_at, payload, prev_hash, hash"
                    " FROM audit_log WHERE seq > :after ORDER BY seq LIMIT :n"
                ),
                {"after": after, "n": limit},
            )
        ).all()
    )


async def records_about(session: AsyncSession, subject: str, page: PageRequest) -> list[dict]:
    """One page of the records naming `subject` as subject, actor or person acted for, oldest first (by seq)."""
    rows = (
        (
            await session.execute(
                text(
                    "SELECT seq, event_id, type, subject, actor, acting_for, occurred_at, recorded_at, payload, encode(hash, 'hex') AS hash"
                    " FROM audit_log WHERE (subject = :s OR actor = :s OR acting_for = :s) AND seq > CAST(:after AS bigint)"
                    " ORDER BY seq LIMIT :n"
                ),
                {"s": subject, "after": page.after.id if page.after else 0, "n": page.fetch},
            )
        )
        .mappings()
        .all()
    )
    return [dict(r) for r in rows]
