"""Institutions (专业机构) confirmed by a sub-district or township; their operators' standing."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from identity.db import repository
from identity.db.models import Institution, StaffUser
from servicekit import clock
from servicekit.auth import Principal
from servicekit.errors import Conflict, Forbidden, UnprocessableInput
from servicekit.pagination import PageRequest, page_of


class InstitutionNotInGoodStanding(Forbidden):
    type = "institution-not-in-good-standing"
    title_zh, title_en = (
        "所属机构未经确认或已列入失信名单",
        "The institution is not confirmed or is on the dishonesty list",
    )


async def register(
    session: AsyncSession, *, officer: Principal, name: str, subdistrict: str, confirmation_ref: str
) -> Institution:
    """A district officer records an institution of their district with its sub-district's confirmation."""
    if officer.district is None:
        raise UnprocessableInput("区民政账号未设置所属区", "The officer's account has no district")
    if await repository.institution_named(session, officer.district, name) is not None:
        raise Conflict("本区已有同名机构", "An institution of that name exists in the district")
    institution = Institution(
        name=name,
        district=officer.district,
        subdistrict=subdistrict,
        confirmation_ref=confirmation_ref,
        confirmed_by=officer.id,
        confirmed_at=clock.now(),
    )
    session.add(institution)
    await session.flush()
    return institution


INSTITUTIONS = "institutions"  # the list's name in its cursors


async def visible_to(
    session: AsyncSession, reader: Principal, district: str | None, page: PageRequest
) -> tuple[list[Institution], str | None]:
    """City admins and auditors see any district's institutions; officers their own. Newest first."""
    if not reader.has_role("city_admin", "auditor"):
        if district not in (None, reader.district):
            raise Forbidden("只能查看本区数据", "Officers see their own district only")
        district = reader.district
    return page_of(INSTITUTIONS, await repository.institutions_in(session, district, page), page, at="confirmed_at")


async def check_operator_standing(session: AsyncSession, staff: StaffUser) -> None:
    """Institution operators sign in only while their institution is confirmed and not listed."""
    if "institution_operator" not in staff.roles:
        return
    institution = await session.get(Institution, staff.institution_id) if staff.institution_id else None
    if institution is None or institution.listed_at is not None:
        raise InstitutionNotInGoodStanding()


async def set_listed(session: AsyncSession, institution_id: uuid.UUID | None, listed: bool) -> None:
    institution = await session.get(Institution, institution_id, with_for_update=True) if institution_id else None
    if institution is not None:
        institution.listed_at = clock.now() if listed else None
