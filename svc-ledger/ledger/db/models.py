"""Ledger tables. Amounts are integer minutes (60 to a time coin); see the README.

The model follows TigerBeetle: immutable transfers that each debit one account and credit another; a
pending transfer (hold) raises the debit account's `held`, and is resolved exactly once by a later
post / void / expire transfer that names it in `pending_id`. Balances move only with entries, which keep
the balance after them.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Integer, String, Text, Uuid, func
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Account(Base):
    """A ledger account. A person holds four, one per coin origin (earned, gifted, granted, allocated),
    so where coins came from is double-entry bookkeeping rather than a side table."""

    __tablename__ = "accounts"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(24))  # person | district_issuance | welfare | escrow
    owner_person_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    origin: Mapped[str | None] = mapped_column(String(12))  # person accounts: earned | gifted | granted | allocated
    district: Mapped[str | None] = mapped_column(String(6))  # issuance accounts
    shard: Mapped[int | None] = mapped_column(Integer)  # escrow accounts
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    held: Mapped[int] = mapped_column(BigInteger, default=0)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Holder(Base):
    """What the ledger knows about a person, projected from identity's events."""

    __tablename__ = "holders"

    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    redemption_age: Mapped[bool] = mapped_column(Boolean, server_default="false")
    district: Mapped[str | None] = mapped_column(String(6))
    special_district: Mapped[str | None] = mapped_column(String(6))
    special_categories: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    lifetime_earned: Mapped[int] = mapped_column(BigInteger, default=0)
    clawback_due: Mapped[int] = mapped_column(BigInteger, default=0)
    milestone_reached_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class KinLink(Base):
    """A confirmed direct-relative link from identity; gifts may flow either way along it."""

    __tablename__ = "kin_links"

    link_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    relative_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    relation: Mapped[str | None] = mapped_column(Text)  # relative_id is person_id's relation
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class Operation(Base):
    """One command, at most once per (actor, idempotency key); a replay returns `result`."""

    __tablename__ = "operations"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    actor: Mapped[str] = mapped_column(Text)
    idempotency_key: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(32))
    fingerprint: Mapped[str] = mapped_column(String(64))
    result: Mapped[dict | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Transfer(Base):
    __tablename__ = "transfers"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    operation_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    code: Mapped[str] = mapped_column(String(12))  # transfer | pending | post | void | expire
    kind: Mapped[str] = mapped_column(String(24))  # hold, settlement, payment, gift, donation, grant, …
    debit_account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    credit_account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    pending_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("transfers.id"))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reference: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # the request, hold or person it concerns
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Entry(Base):
    __tablename__ = "entries"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    transfer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("transfers.id"))
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    amount: Mapped[int] = mapped_column(BigInteger)  # signed: credits positive
    balance_after: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Hold(Base):
    """The coins held for one request: one or more pending transfers (one per origin drawn)."""

    __tablename__ = "holds"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    request_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    elder_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(12))  # pending | settled | voided | expired
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
