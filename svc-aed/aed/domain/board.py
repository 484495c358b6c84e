"""The live board of SOS incidents for staff on duty (急救值守): the open incidents they may see, and every change
to one as it commits.

Every change to an incident is recorded as a step (`incidents._record_steps`), which also sends a PostgreSQL
notification naming the incident; PostgreSQL delivers it only when the transaction commits, and to every replica
of the service. Each process keeps one LISTEN connection while any board is open and hands each notification to
every open board, which reads the incident afresh and sends it if the viewer may see it. A board that may have
missed notifications (its queue overflowed, or the LISTEN connection was lost and made again) is sent the whole
picture again rather than trusting what it has."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import asdict

from sqlalchemy.engine import make_url

from aed.db import incidents as repo
from aed.db.incidents import Incident
from aed.domain.incidents import following, staff_in_scope
from servicekit.auth import Principal
from servicekit.db import Database

RESYNC = None  # what a board's queue holds when it must be sent everything again
QUEUE_LIMIT = 1000


class Board:
    def __init__(self, db: Database, database_url: str) -> None:
        self._db = db
        self._dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        self._boards: set[asyncio.Queue[uuid.UUID | None]] = set()
        self._listening: asyncio.Task | None = None

    @asynccontextmanager
    async def watch(self) -> AsyncIterator[asyncio.Queue[uuid.UUID | None]]:
        """The ids of incidents as they change, for one open board (RESYNC: send everything again)."""
        changes: asyncio.Queue[uuid.UUID | None] = asyncio.Queue(QUEUE_LIMIT)
        self._boards.add(changes)
        if self._listening is None or self._listening.done():
            self._listening = asyncio.create_task(self._listen(), name="incident board")
        try:
            yield changes
        finally:
            self._boards.discard(changes)
            if not self._boards and self._listening is not None:
                self._listening.cancel()
                with suppress(asyncio.CancelledError):
                    await self._listening
                self._listening = None

    async def close(self) -> None:
        if self._listening is not None:
            self._listening.cancel()
            with suppress(asyncio.CancelledError):
                await self._listening

    def _heard(self, payload: str) -> None:
        try:
            changed: uuid.UUID | None = uuid.UUID(payload)
        except ValueError:
            return
        for changes in self._boards:
            try:
                changes.put_nowait(changed)
            except asyncio.QueueFull:  # a board this far behind is sent the whole picture
                while not changes.empty():
                    changes.get_nowait()
                changes.put_nowait(RESYNC)

    def _connected(self) -> None:
        for changes in self._boards:  # whatever changed while no one listened
            changes.put_nowait(RESYNC)

    async def _listen(self) -> None:
        await repo.listen_for_changes(self._dsn, self._heard, connected=self._connected)

    async def picture(self, viewer: Principal) -> list[dict]:
        """Every open incident the viewer may see, newest first."""
        async with self._db.transaction(notify=False) as session:
            return [
                await board_view(session, incident)
                for incident in await repo.open_incidents(session, district=_district_of(viewer))
                if staff_in_scope(viewer, incident)
            ]

    async def incident(self, viewer: Principal, incident_id: uuid.UUID) -> dict | None:
        """One incident as the board shows it, or None if the viewer may not see it."""
        async with self._db.transaction(notify=False) as session:
            incident = await repo.incident(session, incident_id)
            if incident is None or not staff_in_scope(viewer, incident):
                return None
            return await board_view(session, incident)


def _district_of(viewer: Principal) -> str | None:
    return None if viewer.has_role("city_admin") else viewer.district


async def board_view(session, incident: Incident) -> dict:
    """What the board shows: everything staff may see without giving a reason (no exact address), each responder's
    part, and whether 120 has taken every update."""
    return {
        **{k: v for k, v in asdict(incident).items() if k != "address"},
        **following(await repo.alerts(session, incident.id)),
        "dispatch_pending": await repo.undelivered_dispatch_updates(session, incident.id),
    }
