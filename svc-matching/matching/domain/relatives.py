"""An elder's relatives in matching (子女代办): a person signed in as themselves (no operator acting for them) who
has a confirmed direct-relative link with the elder (identity confirms links; matching keeps them in
`kin_links`). A relative follows the elder's requests and acts for the elder on them; nobody books their own
request or a relative's. The request lists and the search ask the same projection in SQL (db/requests.py)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from matching.db import kin_links
from servicekit.auth import Principal
from servicekit.errors import Forbidden


async def is_relative(session: AsyncSession, principal: Principal, elder_id: uuid.UUID) -> bool:
    """Whether the caller, as themselves, is a confirmed direct relative of the elder."""
    if principal.kind != "person" or principal.acting_for:
        return False
    me = uuid.UUID(principal.id)
    return me != elder_id and await kin_links.are_direct_relatives(session, me, elder_id)


async def relative_acting_for(session: AsyncSession, principal: Principal, elder_id: uuid.UUID) -> uuid.UUID:
    """The elder a relative acts for: anyone else is refused."""
    if not await is_relative(session, principal, elder_id):
        raise Forbidden("只有已确认的直系亲属可以代为办理", "Only a confirmed direct relative may act for the elder")
    return elder_id


async def own_or_relatives(session: AsyncSession, volunteer_id: uuid.UUID, elder_id: uuid.UUID) -> bool:
    """Whether a request of this elder is the volunteer's own or a relative's (not theirs to book)."""
    return volunteer_id == elder_id or await kin_links.are_direct_relatives(session, volunteer_id, elder_id)
