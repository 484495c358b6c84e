"""Opening and reading accounts."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.districts import DISTRICTS
from contracts.ledger import AccountOpened
from ledger.db import holders, repository
from ledger.domain.book import OWN_SERVICE_ORDER, TRANSFERABLE_ORDER
from ledger.domain.clock import now as clock_now
from ledger.domain.holds import spendable_origins
from ledger.domain.publish import publish
from ledger.domain.settlement import MILESTONE_MINUTES
from servicekit.auth import Principal
from servicekit.errors import Forbidden, NotFound, UnprocessableInput
from servicekit.pagination import PageRequest, all_pages, page_of

MINUTES_PER_COIN = 60


async def open_person_account(session: AsyncSession, person_id: uuid.UUID) -> bool:
    """Open a person's account (from identity's person.registered); a second call changes nothing."""
    earned_id = await repository.insert_person_accounts(session, person_id)
    await holders.ensure_holder(session, person_id)
    if earned_id is None:
        return False
    await publish(
        session,
        AccountOpened(account_id=earned_id, owner_person_id=person_id, kind="person", opened_at=clock_now()),
        subject=person_id,
    )
    return True


@dataclass(frozen=True)
class Pocket:
    origin: str
    balance: int
    held: int


@dataclass(frozen=True)
class AccountView:
    person_id: uuid.UUID
    balance: int
    held: int
    available: int
    transferable: int
    redeemable_for_own_services: int
    lifetime_earned: int
    stored_earned: int
    clawback_due: int
    district: str | None
    by_origin: list[Pocket]
    opened_at: datetime
    milestones: list[dict] = field(default_factory=list)


async def view_person_account(session: AsyncSession, person_id: uuid.UUID, *, today: date | None = None) -> AccountView:
    rows = await repository.person_pockets(session, person_id)
    holder = await repository.holder_row(session, person_id)
    if not rows or holder is None:
        raise NotFound("账户尚未开立，请稍后再试", "No account yet; it opens shortly after registration")
    pockets = {row.origin: row for row in rows}
    available = {o: row.balance - row.held for o, row in pockets.items()}
    spendable = spendable_origins(holder.redemption_age)
    earned = pockets["earned"].balance
    milestones = [
        {
            "milestone": "nursing_home_eligibility",
            "goal": MILESTONE_MINUTES,
            "progress": min(earned, MILESTONE_MINUTES),
            "reached_at": holder.milestone_reached_at,
        }
    ]
    return AccountView(
        person_id=person_id,
        balance=sum(r.balance for r in rows),
        held=sum(r.held for r in rows),
        available=sum(available.values()),
        transferable=sum(available[o] for o in TRANSFERABLE_ORDER),
        redeemable_for_own_services=sum(available[o] for o in OWN_SERVICE_ORDER if o in spendable),
        lifetime_earned=holder.lifetime_earned,
        stored_earned=earned,
        clawback_due=holder.clawback_due,
        district=holder.district,
        by_origin=[Pocket(o, r.balance, r.held) for o, r in sorted(pockets.items())],
        opened_at=min(r.opened_at for r in rows),
        milestones=milestones,
    )


def _sees_every_district(reader: Principal) -> bool:
    return reader.has_role("city_admin", "auditor")


async def view_for_staff(session: AsyncSession, person_id: uuid.UUID, reader: Principal) -> AccountView:
    """Someone's account: city admins and auditors see any; district officers residents of their district."""
    view = await view_person_account(session, person_id)
    if not _sees_every_district(reader) and view.district != reader.district:
        raise Forbidden("只能查看本区居民的账户", "Officers see accounts of their own district's residents only")
    return view


async def liability(session: AsyncSession, reader: Principal, district: str | None) -> Sequence[Row]:
    """Outstanding coins by holder district and origin; officers see their own district only."""
    if district is not None and district not in DISTRICTS:
        raise UnprocessableInput("未知的区代码", "Unknown district code")
    return await repository.liability(session, scope_district(reader, district))


def scope_district(reader: Principal, district: str | None) -> str | None:
    """The district a staff reader's totals cover: an officer's own whatever they asked; None means every one."""
    if _sees_every_district(reader):
        return district
    if district not in (None, reader.district):
        raise Forbidden("只能查看本区数据", "Officers see their own district only")
    return reader.district


STATEMENT = "statement"  # the list's name in its cursors


async def statement(session: AsyncSession, person_id: uuid.UUID, page: PageRequest) -> tuple[list, str | None]:
    """A person's entries across their origin accounts, newest first."""
    return page_of(STATEMENT, await repository.statement(session, person_id, page), page, at="created_at")


async def statement_for_staff(
    session: AsyncSession, person_id: uuid.UUID, reader: Principal, page: PageRequest
) -> tuple[list, str | None]:
    """Someone's statement, for the staff who may see their account (`view_for_staff`)."""
    await view_for_staff(session, person_id, reader)
    return await statement(session, person_id, page)


async def data_of(session: AsyncSession, person_id: uuid.UUID) -> tuple[AccountView | None, list]:
    """A person's copy of what the ledger holds: the account (None until it opens) and every entry of it,
    newest first."""
    try:
        account = await view_person_account(session, person_id)
    except NotFound:
        return None, []
    return account, await all_pages(STATEMENT, lambda page: statement(session, person_id, page), size=1000)
