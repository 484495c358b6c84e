"""FastAPI dependencies every service uses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    async for session in request.app.state.runtime.db.session_dependency():
        yield session


# scope="function": the transaction commits before the response is sent, so a client never sees
# success for a change that then failed to commit.
DbSession = Annotated[AsyncSession, Depends(_session, scope="function")]
