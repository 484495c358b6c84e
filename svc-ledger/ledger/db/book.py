"""The double-entry engine's two statements (ledger.domain.book): lock every account an operation touches, ordered
by id, and write its transfers, entries and new balances at once (writable CTEs over arrays)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncSession

_LOCK = text(
    "SELECT id, kind, owner_person_id, origin, district, shard, balance, held FROM accounts"
    " WHERE owner_person_id = ANY(:persons) OR (kind = 'welfare' AND :welfare)"
    " OR (kind = 'district_issuance' AND district = ANY(:districts))"
    " OR (kind = 'escrow' AND shard = ANY(:shards))"
    " ORDER BY id FOR NO KEY UPDATE"
)


async def lock_accounts(
    session: AsyncSession, *, persons: list[uuid.UUID], welfare: bool, districts: list[str], shards: list[int]
) -> Sequence[Row]:
    """The persons' pockets and the system accounts named, locked in id order (no two operations wait on each
    other in opposite orders); rows of id, kind, owner_person_id, origin, district, shard, balance, held."""
    return (
        await session.execute(_LOCK, {"persons": persons, "welfare": welfare, "districts": districts, "shards": shards})
    ).all()


TRANSFER_COLUMNS = {
    "id": "uuid",
    "operation_id": "uuid",
    "code": "text",
    "kind": "text",
    "debit_account_id": "uuid",
    "credit_account_id": "uuid",
    "amount": "bigint",
    "pending_id": "uuid",
    "expires_at": "timestamptz",
    "reference": "uuid",
}
ENTRY_COLUMNS = {"transfer_id": "uuid", "account_id": "uuid", "amount": "bigint", "balance_after": "bigint"}


def _unnest(columns: dict[str, str], prefix: str = "") -> str:
    arrays = ", ".join(f"CAST(:{prefix}{name} AS {kind}[])" for name, kind in columns.items())
    return f"unnest({arrays}) WITH ORDINALITY AS v({', '.join(columns)}, n)"


_TRANSFER_NAMES, _ENTRY_NAMES = ", ".join(TRANSFER_COLUMNS), ", ".join(ENTRY_COLUMNS)
_WRITE = text(
    f"WITH t AS (INSERT INTO transfers ({_TRANSFER_NAMES}) SELECT {_TRANSFER_NAMES} FROM {_unnest(TRANSFER_COLUMNS)}"
    f"           ORDER BY n),"
    f" e AS (INSERT INTO entries ({_ENTRY_NAMES}) SELECT {_ENTRY_NAMES} FROM {_unnest(ENTRY_COLUMNS, 'e_')} ORDER BY n)"
    " UPDATE accounts SET balance = a.balance, held = a.held"
    " FROM unnest(CAST(:a_id AS uuid[]), CAST(:a_balance AS bigint[]), CAST(:a_held AS bigint[])) AS a(id, balance, held)"
    " WHERE accounts.id = a.id"
)


def _columns(rows: list[dict], columns: dict[str, str], prefix: str = "") -> dict[str, list]:
    return {prefix + name: [row[name] for row in rows] for name in columns}


async def write(
    session: AsyncSession,
    *,
    transfers: list[dict],
    entries: list[dict],
    balances: Sequence[tuple[uuid.UUID, int, int]],
) -> None:
    """Transfers (TRANSFER_COLUMNS), their entries (ENTRY_COLUMNS) and accounts' new (id, balance, held): one
    statement, whatever the number of transfers."""
    params = _columns(transfers, TRANSFER_COLUMNS) | _columns(entries, ENTRY_COLUMNS, prefix="e_")
    params |= {
        "a_id": [b[0] for b in balances],
        "a_balance": [b[1] for b in balances],
        "a_held": [b[2] for b in balances],
    }
    await session.execute(_WRITE, params)
