"""Events published by svc-ledger on `ledger.events`, keyed by account id."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from contracts.base import EventData
from contracts.exports import ListExport


class AccountOpened(EventData):
    TYPE = "timebank.ledger.account.opened"
    VERSION = 1

    account_id: uuid.UUID
    owner_person_id: uuid.UUID | None
    kind: Literal["person", "district_issuance", "welfare", "escrow"]
    opened_at: datetime

    @classmethod
    def example(cls) -> AccountOpened:
        return cls(
            account_id=uuid.UUID(int=2),
            owner_person_id=uuid.UUID(int=1),
            kind="person",
            opened_at=datetime(2026, 11, 30, tzinfo=UTC),
        )


_T0 = datetime(2026, 11, 30, tzinfo=UTC)


class HoldPlaced(EventData):
    """Coins for a request are held (a pending transfer) on the elder's account until settled or released."""

    TYPE = "timebank.ledger.hold.placed"
    VERSION = 1

    hold_id: uuid.UUID
    request_id: uuid.UUID
    elder_id: uuid.UUID
    amount: int
    expires_at: datetime
    placed_at: datetime

    @classmethod
    def example(cls) -> HoldPlaced:
        return cls(
            hold_id=uuid.UUID(int=6),
            request_id=uuid.UUID(int=5),
            elder_id=uuid.UUID(int=1),
            amount=120,
            expires_at=_T0,
            placed_at=_T0,
        )


class HoldRejected(EventData):
    """No hold could be placed; matching closes the request and shows `reason` to the elder."""

    TYPE = "timebank.ledger.hold.rejected"
    VERSION = 1

    request_id: uuid.UUID
    elder_id: uuid.UUID
    amount: int
    reason_code: Literal["insufficient_coins", "under_60", "no_account", "not_verified"]
    reason: str
    rejected_at: datetime

    @classmethod
    def example(cls) -> HoldRejected:
        return cls(
            request_id=uuid.UUID(int=5),
            elder_id=uuid.UUID(int=1),
            amount=120,
            reason_code="insufficient_coins",
            reason="时间币余额不足",
            rejected_at=_T0,
        )


class HoldReleased(EventData):
    TYPE = "timebank.ledger.hold.released"
    VERSION = 1

    hold_id: uuid.UUID
    request_id: uuid.UUID
    elder_id: uuid.UUID
    released: int
    why: Literal["voided", "expired"]
    released_at: datetime

    @classmethod
    def example(cls) -> HoldReleased:
        return cls(
            hold_id=uuid.UUID(int=6),
            request_id=uuid.UUID(int=5),
            elder_id=uuid.UUID(int=1),
            released=120,
            why="voided",
            released_at=_T0,
        )


class Payment(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    volunteer_id: uuid.UUID
    amount: int


class ServiceSettled(EventData):
    """The hold was posted for the minutes served and each volunteer paid; the rest was released."""

    TYPE = "timebank.ledger.service.settled"
    VERSION = 1

    request_id: uuid.UUID
    hold_id: uuid.UUID
    elder_id: uuid.UUID
    payments: list[Payment]
    unpaid_overrun: int
    released: int
    settled_at: datetime

    @classmethod
    def example(cls) -> ServiceSettled:
        return cls(
            request_id=uuid.UUID(int=5),
            hold_id=uuid.UUID(int=6),
            elder_id=uuid.UUID(int=1),
            payments=[Payment(volunteer_id=uuid.UUID(int=3), amount=90)],
            unpaid_overrun=0,
            released=30,
            settled_at=_T0,
        )


class SettlementReversed(EventData):
    """Audit confirmed a service record false: the volunteer's coins for it went back to the elder.
    `shortfall` is what the volunteer no longer held (recorded as owed)."""

    TYPE = "timebank.ledger.settlement.reversed"
    VERSION = 1

    request_id: uuid.UUID
    sanction_id: uuid.UUID
    volunteer_id: uuid.UUID
    elder_id: uuid.UUID
    reversed: int
    shortfall: int
    reversed_at: datetime

    @classmethod
    def example(cls) -> SettlementReversed:
        return cls(
            request_id=uuid.UUID(int=5),
            sanction_id=uuid.UUID(int=7),
            volunteer_id=uuid.UUID(int=3),
            elder_id=uuid.UUID(int=1),
            reversed=90,
            shortfall=0,
            reversed_at=_T0,
        )


class CoinsGifted(EventData):
    """A gift (赠送) along a confirmed direct-relative link. Audit watches frequency and chains."""

    TYPE = "timebank.ledger.coins.gifted"
    VERSION = 1

    operation_id: uuid.UUID
    from_person_id: uuid.UUID
    to_person_id: uuid.UUID
    amount: int
    gifted_at: datetime

    @classmethod
    def example(cls) -> CoinsGifted:
        return cls(
            operation_id=uuid.UUID(int=10),
            from_person_id=uuid.UUID(int=2),
            to_person_id=uuid.UUID(int=1),
            amount=600,
            gifted_at=_T0,
        )


class CoinsDonated(EventData):
    """A donation to the public-welfare account (公益账户, 二次公益)."""

    TYPE = "timebank.ledger.coins.donated"
    VERSION = 1

    operation_id: uuid.UUID
    person_id: uuid.UUID
    amount: int
    donated_at: datetime

    @classmethod
    def example(cls) -> CoinsDonated:
        return cls(operation_id=uuid.UUID(int=10), person_id=uuid.UUID(int=2), amount=600, donated_at=_T0)


class AccountClosed(EventData):
    """A closed account's coins moved by its holder's rule (the account stays, empty, with its entries): earned
    and gifted coins to the public-welfare account or to the named relative, granted coins back to the issuing
    district, allocated coins back to the welfare account. Told again if coins reach the account later (a hold
    released after the closure)."""

    TYPE = "timebank.ledger.account.closed"
    VERSION = 1

    person_id: uuid.UUID
    to_welfare: int
    to_relative: int
    relative_id: uuid.UUID | None = None
    to_district: int
    district: str | None = None
    closed_at: datetime

    @classmethod
    def example(cls) -> AccountClosed:
        return cls(
            person_id=uuid.UUID(int=2),
            to_welfare=0,
            to_relative=540,
            relative_id=uuid.UUID(int=4),
            to_district=120,
            district="110105",
            closed_at=_T0,
        )


class CoinsGranted(EventData):
    """A district granted free coins (免费赠予) to a special elder, from its issuance account."""

    TYPE = "timebank.ledger.coins.granted"
    VERSION = 1

    operation_id: uuid.UUID
    district: str
    person_id: uuid.UUID
    amount: int
    reason: str
    granted_by: str
    granted_at: datetime

    @classmethod
    def example(cls) -> CoinsGranted:
        return cls(
            operation_id=uuid.UUID(int=10),
            district="110105",
            person_id=uuid.UUID(int=1),
            amount=600,
            reason="经济困难老人季度补贴",
            granted_by="officer-110105",
            granted_at=_T0,
        )


class WelfareAllocated(EventData):
    """Coins from the public-welfare account allocated to a special elder by their district."""

    TYPE = "timebank.ledger.welfare.allocated"
    VERSION = 1

    operation_id: uuid.UUID
    district: str
    person_id: uuid.UUID
    amount: int
    reason: str
    allocated_by: str
    allocated_at: datetime

    @classmethod
    def example(cls) -> WelfareAllocated:
        return cls(
            operation_id=uuid.UUID(int=10),
            district="110105",
            person_id=uuid.UUID(int=1),
            amount=600,
            reason="公益账户定向分配",
            allocated_by="officer-110105",
            allocated_at=_T0,
        )


class NursingHomeMilestoneReached(EventData):
    """A volunteer's stored earned coins reached 10,000 (600,000 minutes): eligible, when old and frail or
    disabled, for a public nursing home in their district on 城乡特困人员 terms. Published once per person."""

    TYPE = "timebank.ledger.milestone.reached"
    VERSION = 1

    person_id: uuid.UUID
    milestone: Literal["nursing_home_eligibility"] = "nursing_home_eligibility"
    earned_balance: int
    reached_at: datetime

    @classmethod
    def example(cls) -> NursingHomeMilestoneReached:
        return cls(person_id=uuid.UUID(int=3), earned_balance=600_000, reached_at=_T0)


class ListExported(ListExport):
    """A staff member exported a list of the ledger's (the milestone list) as a file."""

    TYPE = "timebank.ledger.list.exported"

    @classmethod
    def example(cls) -> ListExported:
        return cls.sample("milestones")
