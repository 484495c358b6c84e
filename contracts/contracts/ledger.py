"""Events published by svc-ledger on `ledger.events`, keyed by account id."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Literal

from contracts.base import EventData


class AccountOpened(EventData):
    TYPE = "timebank.ledger.account.opened"
    VERSION = 1

    account_id: uuid.UUID
    owner_person_id: uuid.UUID | None
    kind: Literal["person", "district_issuance", "welfare", "escrow"]
    opened_at: datetime

    @classmethod
    def example(cls) -> "AccountOpened":
        return cls(account_id=uuid.UUID(int=2), owner_person_id=uuid.UUID(int=1), kind="person",
                   opened_at=datetime(2026, 11, 30, tzinfo=UTC))
