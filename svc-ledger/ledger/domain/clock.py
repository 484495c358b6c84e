from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

BEIJING = ZoneInfo("Asia/Shanghai")


def now() -> datetime:
    return datetime.now(UTC)


def beijing_date(at: datetime) -> date:
    """Ages change at midnight Beijing time."""
    return at.astimezone(BEIJING).date()
