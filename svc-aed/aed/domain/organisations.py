"""Owner organisations — schools (primary/secondary, vocational, universities) and other venues — with the
headcount coverage is measured against, and the staff accounts that keep their devices."""

from __future__ import annotations

import uuid
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from aed.db import organisations as repo
from contracts.districts import DISTRICTS
from servicekit.auth import Principal
from servicekit.errors import Conflict, Forbidden, NotFound, UnprocessableInput

Kind = Literal["primary_secondary_school", "vocational_school", "university", "venue"]


def _in_reach(who: Principal, district: str) -> None:
    if who.has_role("city_admin"):
        return
    if not (who.has_role("district_officer") and who.district == district):
        raise Forbidden("只能管理本区的单位", "District officers manage their district's organisations")


async def create(
    session: AsyncSession, who: Principal, *, name: str, kind: Kind, district: str, headcount: int
) -> dict:
    if district not in DISTRICTS:
        raise UnprocessableInput("区代码不存在", f"Unknown district {district}")
    _in_reach(who, district)
    organisation_id = uuid.uuid4()
    if not await repo.insert(
        session,
        {
            "id": organisation_id,
            "name": name,
            "kind": kind,
            "district": district,
            "headcount": headcount,
            "created_by": who.id,
        },
    ):
        raise Conflict("本区已有同名单位", "The district has an organisation of that name")
    return await get(session, organisation_id)


async def get(session: AsyncSession, organisation_id: uuid.UUID) -> dict:
    organisation = await repo.get(session, organisation_id)
    if organisation is None:
        raise NotFound("单位不存在", "No such organisation")
    return organisation


async def add_staff(session: AsyncSession, who: Principal, organisation_id: uuid.UUID, staff_id: uuid.UUID) -> dict:
    """Give an owner-staff account (identity role `aed_owner`) the organisation's devices to keep."""
    organisation = await get(session, organisation_id)
    _in_reach(who, organisation["district"])
    await repo.add_staff(session, organisation_id, str(staff_id), added_by=who.id)
    return organisation
