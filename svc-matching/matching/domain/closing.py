"""A person closing their account (identity's `account-closure.requested`): nothing new starts for them — no
request, no booking (409 `account-closing`) — and what has not started ends now: their bookings as a volunteer
(the requests reopen for others) and their requests as an elder (the ledger releases the holds). Services under
way finish. Withdrawn, they may start things again (what was cancelled stays cancelled). Erased
(`person.erased`), their notes, rating comments and the addresses of requests never served are blanked."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.identity import AccountClosureRequested, AccountClosureWithdrawn, PersonErased
from matching.db import people
from matching.db import requests as repo
from matching.domain import requests, sanctions

CLOSING = "账户注销"


async def asked(session: AsyncSession, event: AccountClosureRequested, *, now: datetime) -> None:
    await people.record_closing(session, event.person_id, True)
    await sanctions.end_future_bookings(
        session, event.person_id, by="system", reason=CLOSING, why="volunteer_cancelled", now=now
    )
    for request_id in await repo.unstarted_of_elder(session, event.person_id):
        request = await repo.get(session, request_id, lock=True)
        if request is not None and request.state in requests.CANCELLABLE:
            await requests.cancel_unstarted(session, request, actor="system", reason=CLOSING, now=now)


async def withdrawn(session: AsyncSession, event: AccountClosureWithdrawn) -> None:
    await people.record_closing(session, event.person_id, False)


async def erased(session: AsyncSession, event: PersonErased) -> None:
    await repo.erase_elder_data(session, event.person_id)
