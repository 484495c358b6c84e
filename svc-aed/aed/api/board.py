"""Staff's view of SOS incidents: the list, and the live board as Server-Sent Events."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from aed.domain.board import RESYNC, Board
from servicekit.auth import Principal, require_roles
from servicekit.openapi import problem_responses

router = APIRouter(tags=["incidents"])
OnDuty = Annotated[Principal, Depends(require_roles("city_admin", "district_officer"))]
KEEPALIVE_S = 10.0  # under the gateway's read timeout, so a quiet board is not cut


class BoardAlert(BaseModel):
    responder_id: uuid.UUID
    wave: int
    distance_m: int
    status: str = Field(description="sent, accepted, declined, cancelled")
    role: str | None = Field(description="fetch_aed or direct, once accepted")
    aed_id: uuid.UUID | None
    sent_at: datetime
    answered_at: datetime | None
    arrived_at: datetime | None
    arrived_with_aed: bool | None
    progress: str = Field(description="alerted, delivered, seen, accepted, declined, arrived, cancelled, withdrawn")
    delivered_by: list[str]
    eta_at: datetime | None


class BoardIncident(BaseModel):
    id: uuid.UUID
    state: str
    district: str | None
    lat: float
    lon: float
    note: str | None
    source: str = Field(description="app (an SOS in the mini-program) or 120")
    dispatch_ref: str | None = Field(description="120's case number: linked with 120")
    dispatch_pending: int = Field(description="updates 120 has not yet acknowledged")
    needed: int
    wave: int
    opened_at: datetime
    closed_at: datetime | None
    outcome: str | None
    accepted: int
    arrived: int
    first_responder_eta_at: datetime | None
    aed_eta_at: datetime | None
    alerts: list[BoardAlert]


class EventStream(StreamingResponse):
    media_type = "text/event-stream"


def board_of(request: Request) -> Board:
    """The process's board, made with the first viewer (it listens only while someone watches)."""
    state = request.app.state
    if getattr(state, "board", None) is None:
        state.board = Board(state.runtime.db, state.runtime.settings.database_url)
    return state.board


@router.get(
    "/api/v1/incidents/open",
    response_model=list[BoardIncident],
    responses=problem_responses(403),
    summary="Staff on duty: every open incident they may see (city admin: all; an officer: their district), "
    "newest first, without the exact address",
)
async def open_incidents(request: Request, viewer: OnDuty) -> list[dict]:
    return await board_of(request).picture(viewer)


def _event(name: str, data: Any) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def _shown(incident: dict) -> dict:
    return BoardIncident.model_validate(incident).model_dump(mode="json")


@router.get(
    "/api/v1/incidents/board",
    response_class=EventStream,
    responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}, **problem_responses(403)},
    summary="The live incidents board (text/event-stream): a `snapshot` of the open incidents, then an `incident` "
    "event for each change as it commits; the stream ends after `max_s` (reconnect with a fresh token)",
)
async def live_board(
    request: Request,
    viewer: OnDuty,
    max_s: Annotated[float, Query(ge=5, le=3600, description="how long to keep the stream open")] = 600,
) -> EventStream:
    board = board_of(request)

    async def stream() -> AsyncIterator[bytes]:
        ends = time.monotonic() + max_s
        async with board.watch() as changes:
            yield _event("snapshot", [_shown(i) for i in await board.picture(viewer)])
            while (left := ends - time.monotonic()) > 0 and not await request.is_disconnected():
                try:
                    changed = await asyncio.wait_for(changes.get(), timeout=min(KEEPALIVE_S, left))
                except TimeoutError:
                    yield b": keepalive\n\n"
                    continue
                if changed is RESYNC:
                    yield _event("snapshot", [_shown(i) for i in await board.picture(viewer)])
                elif (seen := await board.incident(viewer, changed)) is not None:
                    yield _event("incident", _shown(seen))

    # No buffering anywhere on the way: each event is a frame the board shows at once.
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return EventStream(stream(), headers=headers)
