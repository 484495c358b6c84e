"""Idempotent commands: one operation per (actor, key); a replay returns the first result.

The operation row is inserted first, so a concurrent duplicate waits on the unique key until the first
commits and then reads its result; if the first is refused (rolled back) the duplicate runs afresh, and a
refused command leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ledger.db import operations as stored
from ledger.db.operations import NewOperation
from servicekit.idempotency import IdempotencyKeyReused
from servicekit.ids import new_id


@dataclass(frozen=True)
class Started:
    operation_id: uuid.UUID


@dataclass(frozen=True)
class Replayed:
    result: dict[str, Any]


def fingerprint(kind: str, body: dict[str, Any]) -> str:
    canonical = json.dumps({"kind": kind, "body": body}, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def command(
    *,
    actor: str,
    key: str,
    kind: str,
    body: dict[str, Any],
    result: dict[str, Any] | None = None,
    operation_id: uuid.UUID | None = None,
) -> NewOperation:
    """A person's command under their key: its fingerprint is its kind and body, so the same key with another
    body is told apart from a replay."""
    return NewOperation(actor, key, kind, fingerprint(kind, body), result, operation_id or new_id())


async def begin_all(
    session: AsyncSession, commands: list[NewOperation]
) -> list[Started | Replayed | IdempotencyKeyReused]:
    """The one way an operation starts: each command (keys distinct per actor) starts now, or is a replay of the
    first result stored under its key, or reuses a key for something else — two statements for any number,
    the second only when a key was seen before."""
    started = await stored.start(session, commands)
    earlier = await stored.firsts(session, [(c.actor, c.key) for c in commands if c.id not in started])
    outcomes: list[Started | Replayed | IdempotencyKeyReused] = []
    for c in commands:
        if c.id in started:
            outcomes.append(Started(c.id))
            continue
        first = earlier[(c.actor, c.key)]
        outcomes.append(Replayed(first.result) if first.fingerprint == c.fingerprint else IdempotencyKeyReused())
    return outcomes


async def begin(session: AsyncSession, operation: NewOperation) -> Started | Replayed:
    """Start the operation, or return the first result of an earlier one with its key. A result known before
    the work is done (it is refused or it happens as asked) is stored now: one statement fewer."""
    [outcome] = await begin_all(session, [operation])
    if isinstance(outcome, IdempotencyKeyReused):
        raise outcome
    return outcome


async def finish(session: AsyncSession, operation_id: uuid.UUID, result: dict[str, Any]) -> None:
    await stored.store_results(session, {operation_id: result})


async def abandon(session: AsyncSession, operation_ids: list[uuid.UUID]) -> None:
    """Refused commands leave nothing behind: their keys may be used again."""
    await stored.delete(session, operation_ids)


async def begin_many(session: AsyncSession, *, actor: str, kind: str, keys: list[str]) -> dict[str, uuid.UUID]:
    """Event-driven operations in bulk (the key is the business id, so the kind is the whole fingerprint): the
    keys that start now, with their operation ids; keys already done are left out."""
    outcomes = await begin_all(session, [NewOperation(actor, key, kind, kind) for key in keys])
    return {key: o.operation_id for key, o in zip(keys, outcomes, strict=True) if isinstance(o, Started)}


async def begin_once_per_request(
    session: AsyncSession, items: list, *, kind: str, prefix: str
) -> tuple[list, dict[uuid.UUID, uuid.UUID]]:
    """For events about requests (`item.request_id`): the first item of each request not handled before, in
    order, and request id -> its operation id (key `<prefix>:<request id>`, actor `matching`)."""
    unique = list({i.request_id: i for i in reversed(items)}.values())[::-1]
    started = await begin_many(session, actor="matching", kind=kind, keys=[f"{prefix}:{i.request_id}" for i in unique])
    fresh = [i for i in unique if f"{prefix}:{i.request_id}" in started]
    return fresh, {i.request_id: started[f"{prefix}:{i.request_id}"] for i in fresh}


async def finish_many(session: AsyncSession, results: dict[uuid.UUID, dict[str, Any]]) -> None:
    await stored.store_results(session, results)
