"""Upkeep (a daily job, `python -m aed upkeep` on demand): consumables expiring within the warning period
are announced once per expiry date (the owner and district act on the event); expired ones make the device
unusable — the lookup never shows it — and are announced as expired."""
from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.aed import AedConsumablesExpiring
from contracts.topics import Topic
from servicekit.events import build_event, record_events

ITEMS = ("battery", "adult_pads", "child_pads")

_DUE = text("""
SELECT id, district, organisation_id, battery_expires_on, adult_pads_expires_on, child_pads_expires_on,
       least(battery_expires_on, adult_pads_expires_on, child_pads_expires_on) AS earliest
FROM aeds
WHERE status <> 'removed'
  AND least(battery_expires_on, adult_pads_expires_on, child_pads_expires_on) <= :horizon
  AND (expiry_notified_for IS DISTINCT FROM least(battery_expires_on, adult_pads_expires_on, child_pads_expires_on)
       OR (least(battery_expires_on, adult_pads_expires_on, child_pads_expires_on) < :today
           AND expired_notified_for IS DISTINCT FROM least(battery_expires_on, adult_pads_expires_on, child_pads_expires_on)))
FOR UPDATE SKIP LOCKED
""")


async def run(session: AsyncSession, *, today: date, warning_days: int, now: datetime) -> int:
    """Announce what expires by today + warning_days (once per date; again once it has expired)."""
    events = []
    announced = []
    for row in (await session.execute(_DUE, {"horizon": today + timedelta(days=warning_days), "today": today})).mappings():
        for item in ITEMS:
            expires_on = row[f"{item}_expires_on"]
            if expires_on is None or expires_on > today + timedelta(days=warning_days):
                continue
            events.append((build_event(source="aed", data=AedConsumablesExpiring(
                aed_id=row["id"], district=row["district"], organisation_id=row["organisation_id"], item=item,
                expires_on=expires_on, expired=expires_on < today, announced_at=now), subject=str(row["id"])), None))
        announced.append((row["id"], row["earliest"]))
    # Remember what was announced, so each date is announced once as coming and once as passed.
    for aed_id, earliest in announced:
        await session.execute(text(
            "UPDATE aeds SET expiry_notified_for = :d,"
            " expired_notified_for = CASE WHEN CAST(:d AS date) < CAST(:today AS date) THEN CAST(:d AS date)"
            " ELSE expired_notified_for END WHERE id = :i"),
            {"d": earliest, "today": today, "i": aed_id})
    await record_events(session, topic=Topic.AED, events=events)
    return len(events)
