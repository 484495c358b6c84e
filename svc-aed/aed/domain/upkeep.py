"""Upkeep (a daily job, `python -m aed upkeep` on demand): consumables expiring within the warning period
are announced once per expiry date (the owner and district act on the event); expired ones make the device
unusable — the lookup never shows it — and are announced as expired."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from aed.db import devices as repo
from contracts.aed import AedConsumablesExpiring
from contracts.topics import Topic
from servicekit.events import CloudEvent, build_event, record_events

ITEMS = ("battery", "adult_pads", "child_pads")


async def run(session: AsyncSession, *, today: date, warning_days: int, now: datetime) -> int:
    """Announce what expires by today + warning_days (once per date; again once it has expired)."""
    events: list[tuple[CloudEvent, str | None]] = []
    announced = []
    for row in await repo.expiring(session, horizon=today + timedelta(days=warning_days), today=today):
        for item in ITEMS:
            expires_on = row[f"{item}_expires_on"]
            if expires_on is None or expires_on > today + timedelta(days=warning_days):
                continue
            events.append(
                (
                    build_event(
                        source="aed",
                        data=AedConsumablesExpiring(
                            aed_id=row["id"],
                            district=row["district"],
                            organisation_id=row["organisation_id"],
                            item=item,
                            expires_on=expires_on,
                            expired=expires_on < today,
                            announced_at=now,
                        ),
                        subject=str(row["id"]),
                    ),
                    None,
                )
            )
        announced.append((row["id"], row["earliest"]))
    # Remember what was announced, so each date is announced once as coming and once as passed.
    for aed_id, earliest in announced:
        await repo.mark_expiry_announced(session, aed_id, earliest, today=today)
    await record_events(session, topic=Topic.AED, events=events)
    return len(events)
