"""Direct-relative links (直系亲属): claimed by one person, confirmed by the other or by staff with a
document reference, revocable by either party or staff. Confirmations and revocations are events."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.identity import INVERSE_RELATION, KinshipConfirmed, KinshipRevoked
from identity.db import repository
from identity.db.models import KinshipLink
from identity.domain.publish import publish
from servicekit import clock
from servicekit.auth import Principal
from servicekit.errors import Conflict, Forbidden, NotFound, UnprocessableInput
from servicekit.pagination import PageRequest, page_of

# Staff who may confirm a link on documentary evidence (户口簿, 出生证明 …).
CONFIRMING_STAFF = ("city_admin", "district_officer", "institution_operator")


class KinshipExists(Conflict):
    type, title_zh, title_en = (
        "kinship-exists",
        "你们之间已有亲属关系登记",
        "A link between these two people already exists",
    )


@dataclass(frozen=True)
class KinshipView:
    id: uuid.UUID
    relative_id: uuid.UUID
    relation: str  # the relative's relation to the viewer
    status: str
    claimed_by_me: bool
    awaiting_me: bool  # pending, and the viewer is the one to confirm it
    created_at: datetime


def view_for(link: KinshipLink, viewer: uuid.UUID) -> KinshipView:
    mine = link.claimant_id == viewer
    return KinshipView(
        id=link.id,
        relative_id=link.relative_id if mine else link.claimant_id,
        relation=link.relation if mine else INVERSE_RELATION[link.relation],
        status=link.status,
        claimed_by_me=mine,
        awaiting_me=link.status == "pending" and not mine,
        created_at=link.created_at,
    )


async def claim(session: AsyncSession, *, claimant: uuid.UUID, relative: uuid.UUID, relation: str) -> KinshipLink:
    if claimant == relative:
        raise UnprocessableInput("不能与自己登记亲属关系", "Cannot claim a link to oneself")
    if await repository.person(session, relative) is None:
        raise NotFound("对方用户不存在", "No such person")
    await repository.lock_pair(session, claimant, relative)
    if await repository.active_kinship_between(session, claimant, relative) is not None:
        raise KinshipExists()
    link = KinshipLink(claimant_id=claimant, relative_id=relative, relation=relation, status="pending")
    session.add(link)
    await session.flush()
    return link


async def _locked_link(session: AsyncSession, link_id: uuid.UUID) -> KinshipLink:
    link = await repository.kinship_link(session, link_id, lock=True)
    if link is None:
        raise NotFound("亲属关系登记不存在", "No such link")
    return link


async def confirm(session: AsyncSession, *, link_id: uuid.UUID, by: Principal, document_ref: str | None) -> KinshipLink:
    link = await _locked_link(session, link_id)
    as_relative = by.kind == "person" and uuid.UUID(by.subject) == link.relative_id
    as_staff = by.kind == "staff" and by.has_role(*CONFIRMING_STAFF)
    if not (as_relative or as_staff):
        raise Forbidden("只有被登记的一方或工作人员可以确认", "Only the other person or staff may confirm")
    if as_staff and not document_ref:
        raise UnprocessableInput("工作人员确认须填写证明材料编号", "Staff confirmation needs a document reference")
    if link.status != "pending":
        raise Conflict("该登记已处理", f"The link is {link.status}")
    link.status, link.confirmed_at, link.confirmed_by = "confirmed", clock.now(), by.id
    link.document_ref = document_ref if as_staff else None
    data = KinshipConfirmed(
        link_id=link.id,
        person_id=link.claimant_id,
        relative_id=link.relative_id,
        relation=link.relation,
        confirmed_by=by.id,
        document_ref=link.document_ref,
        confirmed_at=link.confirmed_at,
    )
    await publish(session, data, subject=link.claimant_id, actor=by.id)
    return link


async def revoke(session: AsyncSession, *, link_id: uuid.UUID, by: Principal, reason: str) -> KinshipLink:
    link = await _locked_link(session, link_id)
    party = by.kind == "person" and uuid.UUID(by.subject) in (link.claimant_id, link.relative_id)
    if not (party or (by.kind == "staff" and by.has_role(*CONFIRMING_STAFF))):
        raise Forbidden("无权撤销该亲属关系", "Only the two people or staff may revoke")
    await end(session, link, actor=by.id, reason=reason)
    return link


async def end(session: AsyncSession, link: KinshipLink, *, actor: str, reason: str) -> None:
    """Revoke a link (locked by the caller); a retry changes nothing."""
    if link.status == "revoked":
        return
    was_confirmed = link.status == "confirmed"
    link.status, link.revoked_at, link.revoked_by, link.revoke_reason = "revoked", clock.now(), actor, reason
    if was_confirmed:  # a pending claim never granted anything, so nobody needs to hear it ended
        data = KinshipRevoked(
            link_id=link.id,
            person_id=link.claimant_id,
            relative_id=link.relative_id,
            revoked_by=actor,
            reason=reason,
            revoked_at=link.revoked_at,
        )
        await publish(session, data, subject=link.claimant_id, actor=actor)


KINSHIPS = "kinships"  # the list's name in its cursors


async def links_of(
    session: AsyncSession, person_id: uuid.UUID, page: PageRequest, *, status: str | None
) -> tuple[list[KinshipView], str | None]:
    """The person's links claimed either way, newest first; pending ones they must confirm say so."""
    links = await repository.kinships_of(session, person_id, page, status=status)
    shown, cursor = page_of(KINSHIPS, links, page, at="created_at")
    return [view_for(link, person_id) for link in shown], cursor
