"""Real-name claims: a person whose 居民身份证号 is already verified for another account asks staff to decide."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class Claim:
    id: uuid.UUID
    claimant_id: uuid.UUID
    holder_id: uuid.UUID
    id_number_lookup: bytes
    key_id: str
    name_encrypted: bytes
    id_number_encrypted: bytes
    name_masked: str
    id_number_masked: str
    district: str | None
    state: str
    opened_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    evidence: str | None


_COLUMNS = (
    "id, claimant_id, holder_id, id_number_lookup, key_id, name_encrypted, id_number_encrypted, name_masked,"
    " id_number_masked, district, state, opened_at, decided_at, decided_by, evidence"
)


def _claim(row) -> Claim:
    return Claim(
        **{
            **row._mapping,
            "id_number_lookup": bytes(row.id_number_lookup),
            "name_encrypted": bytes(row.name_encrypted),
            "id_number_encrypted": bytes(row.id_number_encrypted),
        }
    )


async def open_claim_of(session: AsyncSession, claimant_id: uuid.UUID, lookup: bytes) -> Claim | None:
    row = (
        await session.execute(
            text(
                f"SELECT {_COLUMNS} FROM real_name_claims"
                " WHERE claimant_id = :c AND id_number_lookup = :l AND state = 'open'"
            ),
            {"c": claimant_id, "l": lookup},
        )
    ).first()
    return _claim(row) if row else None


async def add(session: AsyncSession, claim: Claim) -> None:
    await session.execute(
        text(
            f"INSERT INTO real_name_claims ({_COLUMNS}) VALUES (:id, :claimant_id, :holder_id, :id_number_lookup,"
            " :key_id, :name_encrypted, :id_number_encrypted, :name_masked, :id_number_masked, :district, :state,"
            " :opened_at, :decided_at, :decided_by, :evidence)"
        ),
        claim.__dict__,
    )


async def claim(session: AsyncSession, claim_id: uuid.UUID, *, for_update: bool = False) -> Claim | None:
    lock = " FOR UPDATE" if for_update else ""
    row = (
        await session.execute(text(f"SELECT {_COLUMNS} FROM real_name_claims WHERE id = :id{lock}"), {"id": claim_id})
    ).first()
    return _claim(row) if row else None


async def claims_of(session: AsyncSession, claimant_id: uuid.UUID) -> list[Claim]:
    rows = await session.execute(
        text(f"SELECT {_COLUMNS} FROM real_name_claims WHERE claimant_id = :c ORDER BY opened_at DESC"),
        {"c": claimant_id},
    )
    return [_claim(row) for row in rows]


async def open_claims(session: AsyncSession, *, district: str | None, everywhere: bool, limit: int) -> list[Claim]:
    """Open claims, oldest first: of one district, or (city staff) everywhere."""
    scope = "" if everywhere else " AND district = :d"
    rows = await session.execute(
        text(f"SELECT {_COLUMNS} FROM real_name_claims WHERE state = 'open'{scope} ORDER BY opened_at, id LIMIT :n"),
        {"d": district, "n": limit},
    )
    return [_claim(row) for row in rows]


async def decide(
    session: AsyncSession, claim_id: uuid.UUID, *, state: str, decided_by: str, evidence: str, at: datetime
) -> None:
    await session.execute(
        text(
            "UPDATE real_name_claims SET state = :s, decided_by = :by, evidence = :e, decided_at = :at WHERE id = :id"
        ),
        {"s": state, "by": decided_by, "e": evidence, "at": at, "id": claim_id},
    )
