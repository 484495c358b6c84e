"""The double-entry engine every ledger operation goes through.

An operation locks every account it touches in one statement, ordered by id (so two operations never
wait on each other in opposite orders: no deadlocks), stages its transfers in memory while checking each
account's floor, and writes transfers, entries and balances in one statement (both in ledger.db.book).
Database checks (balance ≥ held, a pending transfer resolves once) stand behind the Python checks.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from ledger.db import book as repo
from ledger.db.repository import Pending
from ledger.domain.errors import InsufficientCoins
from servicekit.ids import new_id

# Spending orders (README): restricted coins first for one's own services, so the coins that can also be
# gifted or donated last longest; gifted before earned elsewhere, so stored earned coins (which count
# toward the 10,000-coin milestone) are kept.
OWN_SERVICE_ORDER = ("granted", "allocated", "gifted", "earned")
OWN_SERVICE_UNDER_60 = ("granted", "allocated")
TRANSFERABLE_ORDER = ("gifted", "earned")
ESCROW_SHARDS = 8  # seeded by migration 0002; holds spread over them so no single row serialises settlement


@dataclass
class LockedAccount:
    id: uuid.UUID
    kind: str
    owner_person_id: uuid.UUID | None
    origin: str | None
    district: str | None
    shard: int | None
    balance: int
    held: int
    changed: bool = False

    @property
    def available(self) -> int:
        return self.balance - self.held

    @property
    def may_go_negative(self) -> bool:
        return self.kind == "district_issuance"


@dataclass
class Book:
    session: AsyncSession
    operation_id: uuid.UUID
    accounts: dict[uuid.UUID, LockedAccount] = field(default_factory=dict)
    _transfers: list[dict] = field(default_factory=list)
    _entries: list[dict] = field(default_factory=list)
    # The locked accounts by owner and origin, and the system accounts: a settlement batch locks a thousand
    # pockets and looks one up per payment, so a scan per look-up made a batch quadratic.
    _pockets: dict[uuid.UUID, dict[str, LockedAccount]] = field(default_factory=dict)
    _system: list[LockedAccount] = field(default_factory=list)

    async def lock(
        self,
        *,
        persons: Iterable[uuid.UUID] = (),
        welfare: bool = False,
        districts: Iterable[str] = (),
        shards: Iterable[int] = (),
    ) -> None:
        rows = await repo.lock_accounts(
            self.session, persons=list(persons), welfare=welfare, districts=list(districts), shards=list(shards)
        )
        for row in rows:
            if row.id in self.accounts:  # locked before: the object in hand may carry staged changes
                continue
            account = self.accounts[row.id] = LockedAccount(*row)
            if account.owner_person_id is None:
                self._system.append(account)
            elif account.origin:
                self._pockets.setdefault(account.owner_person_id, {})[account.origin] = account

    # --- finding locked accounts -----------------------------------------------------------------------
    def pocket(self, person_id: uuid.UUID, origin: str) -> LockedAccount | None:
        return self._pockets.get(person_id, {}).get(origin)

    def account(self, person_id: uuid.UUID, origin: str) -> LockedAccount:
        """A pocket that must be there: every holder has all of them once opened, and this book locked them."""
        return self._pockets[person_id][origin]

    def pockets(self, person_id: uuid.UUID) -> dict[str, LockedAccount]:
        return dict(self._pockets.get(person_id, {}))

    def system(self, kind: str, *, district: str | None = None, shard: int | None = None) -> LockedAccount:
        return next(
            a
            for a in self._system
            if a.kind == kind and (district is None or a.district == district) and (shard is None or a.shard == shard)
        )

    # --- staging transfers -----------------------------------------------------------------------------
    def transfer(
        self,
        debit: LockedAccount,
        credit: LockedAccount,
        amount: int,
        *,
        kind: str,
        reference: uuid.UUID | None = None,
        code: str = "transfer",
        pending_id: uuid.UUID | None = None,
    ) -> uuid.UUID:
        """A posted transfer: coins move now."""
        transfer_id = self._stage(
            debit, credit, amount, kind=kind, reference=reference, code=code, pending_id=pending_id
        )
        for account, signed in ((debit, -amount), (credit, amount)):
            account.balance += signed
            account.changed = True
            self._check_floor(account)
            self._entries.append(
                {
                    "transfer_id": transfer_id,
                    "account_id": account.id,
                    "amount": signed,
                    "balance_after": account.balance,
                }
            )
        return transfer_id

    def pend(
        self,
        debit: LockedAccount,
        credit: LockedAccount,
        amount: int,
        *,
        kind: str,
        reference: uuid.UUID,
        expires_at: datetime,
    ) -> uuid.UUID:
        """A pending transfer: the coins stay in the debit account but are held for it."""
        debit.held += amount
        debit.changed = True
        self._check_floor(debit)
        return self._stage(debit, credit, amount, kind=kind, reference=reference, code="pending", expires_at=expires_at)

    def post(self, pending: Pending, amount: int, *, reference: uuid.UUID) -> None:
        """Post `amount` (≤ the pending amount) of a pending transfer; the rest is released."""
        assert 0 < amount <= pending.amount
        debit, credit = self.accounts[pending.debit_account_id], self.accounts[pending.credit_account_id]
        debit.held -= pending.amount
        self.transfer(debit, credit, amount, kind=pending.kind, reference=reference, code="post", pending_id=pending.id)

    def release(self, pending: Pending, *, code: str, reference: uuid.UUID) -> None:
        """Void or expire a pending transfer: nothing moves, the hold goes."""
        debit, credit = self.accounts[pending.debit_account_id], self.accounts[pending.credit_account_id]
        debit.held -= pending.amount
        debit.changed = True
        self._stage(
            debit, credit, pending.amount, kind=pending.kind, reference=reference, code=code, pending_id=pending.id
        )

    def _stage(
        self,
        debit: LockedAccount,
        credit: LockedAccount,
        amount: int,
        *,
        kind: str,
        reference: uuid.UUID | None,
        code: str,
        pending_id: uuid.UUID | None = None,
        expires_at: datetime | None = None,
    ) -> uuid.UUID:
        if amount <= 0 and code not in ("void", "expire"):
            raise ValueError("transfers move a positive amount")
        transfer_id = new_id()
        self._transfers.append(
            {
                "id": transfer_id,
                "operation_id": self.operation_id,
                "code": code,
                "kind": kind,
                "debit_account_id": debit.id,
                "credit_account_id": credit.id,
                "amount": amount,
                "pending_id": pending_id,
                "expires_at": expires_at,
                "reference": reference,
            }
        )
        return transfer_id

    @staticmethod
    def _check_floor(account: LockedAccount) -> None:
        if not account.may_go_negative and account.balance < account.held:
            raise InsufficientCoins()

    # --- writing -----------------------------------------------------------------------------------------
    async def write(self) -> None:
        """Write the staged transfers, their entries and the new balances: one statement (writable CTEs
        over arrays), whatever the number of transfers."""
        changed = [a for a in self.accounts.values() if a.changed]
        if not (self._transfers or changed):
            return
        await repo.write(
            self.session,
            transfers=self._transfers,
            entries=self._entries,
            balances=[(a.id, a.balance, a.held) for a in changed],
        )
        self._transfers.clear()
        self._entries.clear()
        for account in changed:
            account.changed = False


def draw(pockets: dict[str, LockedAccount], order: Iterable[str], amount: int) -> list[tuple[LockedAccount, int]]:
    """Take `amount` from a person's pockets in spending `order`; raise if they hold too little."""
    taken: list[tuple[LockedAccount, int]] = []
    remaining = amount
    for origin in order:
        pocket = pockets.get(origin)
        if pocket is None or remaining == 0:
            continue
        part = min(remaining, max(pocket.available, 0))
        if part:
            taken.append((pocket, part))
            remaining -= part
    if remaining:
        raise InsufficientCoins()
    return taken


def available_in(pockets: dict[str, LockedAccount], origins: Iterable[str]) -> int:
    return sum(max(pockets[o].available, 0) for o in origins if o in pockets)


def escrow_shard(request_id: uuid.UUID) -> int:
    return request_id.int % ESCROW_SHARDS
