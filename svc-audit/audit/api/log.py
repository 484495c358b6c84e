from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from audit import judging
from audit.domain import trail
from servicekit.auth import Principal, require_roles
from servicekit.deps import DbSession
from servicekit.pagination import Page, PageParams

router = APIRouter(tags=["audit log"])
Auditor = Annotated[Principal, Depends(require_roles("auditor"))]


class TrailRecord(BaseModel):
    seq: int
    event_id: uuid.UUID
    type: str
    subject: str
    actor: str | None
    acting_for: str | None
    occurred_at: datetime
    recorded_at: datetime
    payload: str = Field(description="the event's data as the JSON text that was hashed")
    hash: str = Field(description="this record's link in the hash chain, hex")


class VerificationOut(BaseModel):
    ok: bool
    records: int
    head_seq: int
    head_hash: str
    checkpoints_checked: int
    first_altered_seq: int | None
    problem: str | None
    # How far the fraud rules have judged the trail, and records they could not read (judging.py).
    judged_seq: int
    unjudged: list[dict]


@router.get(
    "/api/v1/audit-log",
    response_model=Page[TrailRecord],
    summary="Who did what, when: the records about a subject (as subject, actor or the person acted for), "
    "oldest first (cursor pages)",
)
async def audit_log(
    auditor: Auditor, session: DbSession, page: PageParams, subject: Annotated[str, Query(min_length=1, max_length=128)]
) -> Page[TrailRecord]:
    records, cursor = await trail.records_about(session, subject, page.for_list(trail.LOG))
    return Page[TrailRecord](items=[TrailRecord(**r) for r in records], next_cursor=cursor)


@router.get(
    "/api/v1/audit-log/verification",
    response_model=VerificationOut,
    summary="Recompute the hash chain and check the signed checkpoints; names the first altered record. "
    "Also how far the fraud rules have judged the trail and the records they could not read",
)
async def verification(auditor: Auditor, session: DbSession, request: Request) -> VerificationOut:
    verified = await trail.verify(session, request.app.state.checkpoint_signer)
    judged_seq, unjudged = await judging.state(session)
    return VerificationOut(**vars(verified), judged_seq=judged_seq, unjudged=unjudged)
