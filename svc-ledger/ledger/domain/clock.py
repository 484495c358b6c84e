"""The ledger's time is the service clock (servicekit.clock: moved by tests, the system clock in production)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from servicekit.clock import now  # noqa: F401  (the ledger's use cases read `clock.now()`)

BEIJING = ZoneInfo("Asia/Shanghai")


def beijing_date(at: datetime) -> date:
    """Ages change at midnight Beijing time."""
    return at.astimezone(BEIJING).date()
