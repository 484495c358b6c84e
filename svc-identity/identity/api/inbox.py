from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from identity.api.deps import Session
from identity.api.me import own_person
from identity.domain import inbox
from servicekit.auth import CurrentPrincipal
from servicekit.pagination import Page, PageParams

router = APIRouter(tags=["inbox"])


class InboxMessage(BaseModel):
    id: uuid.UUID
    template: str = Field(description="the kind of message, e.g. request_booked, incident_alert")
    title: str
    summary: str = Field(description="the message's short fields in one line")
    data: dict[str, str] = Field(description="the short fields: item, time, status, note")
    page: str | None = Field(description="the mini-program page the message opens")
    requested_at: datetime
    read_at: datetime | None
    delivery: str = Field(description="pending, sent, declined (not subscribed), no_channel or failed")
    channel: str | None = Field(description="wechat or sms, once sent")
    sent_at: datetime | None


class InboxPage(Page[InboxMessage]):
    unread: int = Field(description="unread messages in the whole inbox")


class UnreadCount(BaseModel):
    unread: int


class MarkedRead(BaseModel):
    marked: int


def _message(message: inbox.Message) -> InboxMessage:
    return InboxMessage.model_validate(message, from_attributes=True)


@router.get("/api/v1/me/inbox", response_model=InboxPage, summary="Your messages, newest first (cursor pages)")
async def my_inbox(
    principal: CurrentPrincipal,
    session: Session,
    page: PageParams,
    unread: Annotated[bool, Query(description="only unread messages")] = False,
) -> InboxPage:
    person = own_person(principal)
    shown, cursor = await inbox.messages(session, person, page.for_list(inbox.INBOX), unread_only=unread)
    return InboxPage(items=[_message(m) for m in shown], next_cursor=cursor, unread=await inbox.unread(session, person))


@router.get("/api/v1/me/inbox/unread-count", response_model=UnreadCount, summary="How many of your messages are unread")
async def my_unread(principal: CurrentPrincipal, session: Session) -> UnreadCount:
    return UnreadCount(unread=await inbox.unread(session, own_person(principal)))


@router.post(
    "/api/v1/me/inbox/{message_id}/read",
    response_model=InboxMessage,
    summary="Mark one of your messages read (again: no change)",
)
async def read_one(message_id: uuid.UUID, principal: CurrentPrincipal, session: Session) -> InboxMessage:
    return _message(await inbox.mark_read(session, own_person(principal), message_id))


@router.post("/api/v1/me/inbox/read-all", response_model=MarkedRead, summary="Mark every unread message read")
async def read_all(principal: CurrentPrincipal, session: Session) -> MarkedRead:
    return MarkedRead(marked=await inbox.mark_all_read(session, own_person(principal)))
