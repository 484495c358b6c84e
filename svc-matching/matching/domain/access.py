"""Every read of an elder's exact address by someone else is recorded as an event audit keeps."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.matching import AddressAccessed
from matching.db.requests import Request
from matching.domain.publish import publish
from servicekit.auth import Principal


async def address_revealed(
    session: AsyncSession, principal: Principal, request: Request, *, purpose: str, now: datetime
) -> None:
    await publish(
        session,
        AddressAccessed(
            request_id=request.id,
            elder_id=request.elder_id,
            accessed_by=principal.id,
            accessor_kind=principal.kind,
            accessor_roles=sorted(principal.roles | principal.scopes),
            purpose=purpose,
            accessed_at=now,
        ),
        subject=request.id,
        actor=principal.id,
        acting_for=principal.acting_for,
    )
