"""What happens when time passes (a job every `lifecycle_interval_s`, and `python -m matching lifecycle`).

- A booked volunteer not signed in `no_show_after_minutes` after the start is a no-show (recorded on their
  record; the request reopens while its window lasts).
- A volunteer signed in but not out by `check_out_late_minutes` after the end is signed out at the end
  (method `window_closed`): the elder's coins were held for the window, the volunteer is paid for it.
- A request not served by the end of its window closes as expired and its hold is released.
Each request is handled in its own transaction, rows locked with SKIP LOCKED so replicas share the work.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from matching.db import requests as repo
from matching.domain import attendance, requests
from matching.settings import MatchingSettings
from servicekit.db import Database

log = logging.getLogger(__name__)


async def run_once(db: Database, settings: MatchingSettings, *, now: datetime, limit: int = 200) -> int:
    no_show_before = now - timedelta(minutes=settings.no_show_after_minutes)
    async with db.transaction() as session:
        due = await repo.due_for_lifecycle(session, now=now, no_show_before=no_show_before, limit=limit)
    changed = 0
    for request_id in due:
        async with db.transaction() as session:
            changed += await _advance(session, request_id, settings=settings, now=now)
    return changed


async def _advance(session, request_id: uuid.UUID, *, settings: MatchingSettings, now: datetime) -> int:
    request = await repo.get_unless_locked(session, request_id)
    if request is None or request.state not in repo.LIVE_STATES:
        return 0
    changed = 0
    no_show_at = request.starts_at + timedelta(minutes=settings.no_show_after_minutes)
    sign_out_closes = request.ends_at + timedelta(minutes=settings.check_out_late_minutes)
    for booking in await repo.bookings(session, request.id):
        if booking.status == "booked" and now >= no_show_at:
            await requests.end_booking(
                session,
                request,
                booking,
                by="system",
                reason="未按时签到",
                why="no_show",
                late=False,
                now=now,
                status="no_show",
            )
            await repo.add_history(
                session, request, at=now, action="no_show", actor="system", note=str(booking.volunteer_id)
            )
            changed += 1
        elif booking.status == "checked_in" and now >= sign_out_closes:
            assert booking.checked_in_at is not None  # a checked-in booking has its time
            minutes = attendance.recorded_minutes(
                booking.checked_in_at,
                request.ends_at,
                request.starts_at,
                request.ends_at,
            )
            await repo.record_check_out(
                session,
                booking,
                at=request.ends_at,
                lat=None,
                lon=None,
                distance_m=None,
                by="system",
                method="window_closed",
                minutes=minutes,
                institution_id=None,
            )
            await repo.add_history(
                session,
                request,
                at=now,
                action="check_out",
                actor="system",
                note=f"{booking.volunteer_id} (window_closed)",
            )
            changed += 1
    if await attendance.complete_if_done(session, request, now=now):
        return changed + 1
    live = [b for b in await repo.bookings(session, request.id) if b.live]
    if not live and request.ends_at <= now:
        await requests.expire(session, request, now=now)
        return changed + 1
    if not live and request.state in ("booked", "in_progress"):
        request.state = "open"  # everyone booked failed to come: others may still take the rest of the window
        await repo.save_state(session, request, now)
        await repo.add_history(session, request, at=now, action="reopened", actor="system")
        changed += 1
    return changed
