"""Special elders (特殊老年群体): district officers set and clear categories for verified elders (60+) who
live in their own district. Every change is kept with who made it and why, and published."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.identity import SpecialGroupsSet
from identity.db import repository
from identity.db.models import SpecialGroupChange
from identity.domain.publish import publish
from servicekit import clock
from servicekit.auth import Principal
from servicekit.errors import Forbidden, NotFound, UnprocessableInput

CATEGORIES = {
    "economic_hardship": "经济困难",
    "severe_disability_or_dementia": "重度失能失智",
    "family_planning_special": "计划生育特殊家庭",
    "severe_disability": "重度残疾",
    "advanced_age": "高龄",
    "other": "其他急需帮助",
}


class OutsideDistrict(Forbidden):
    type = "outside-district"
    title_zh, title_en = "只能处理本区居民", "Officers act only for residents of their own district"


async def set_special_groups(
    session: AsyncSession,
    *,
    person_id: uuid.UUID,
    officer: Principal,
    categories: list[str],
    note: str | None,
    reason: str,
    today: date,
) -> SpecialGroupChange:
    """An empty `categories` clears them."""
    person = await repository.person(session, person_id, lock=True)
    if person is None:
        raise NotFound("用户不存在", "No such person")
    if officer.district is None or person.residence_district != officer.district:
        raise OutsideDistrict()
    if "other" in categories and not (note and note.strip()):
        raise UnprocessableInput("选择“其他”时请说明情况", "Category 'other' needs a note", field="note")
    verified = await repository.real_name(session, person_id)
    if categories and (verified is None or verified.turns_60_on > today):
        raise UnprocessableInput(
            "只有已实名认证、年满60周岁的老人可以认定为特殊老年群体",
            "Only verified elders aged 60 or over can be special elders",
        )
    change = SpecialGroupChange(
        person_id=person_id,
        district=officer.district,
        categories=sorted(set(categories)),
        note=note,
        reason=reason,
        set_by=officer.id,
        set_at=clock.now(),
    )
    session.add(change)
    await session.flush()
    data = SpecialGroupsSet(
        person_id=person_id,
        district=change.district,
        categories=change.categories,
        note=note,
        set_by=officer.id,
        reason=reason,
        set_at=change.set_at,
    )
    await publish(session, data, subject=person_id, actor=officer.id)
    return change


async def current(session: AsyncSession, *, person_id: uuid.UUID, reader: Principal) -> SpecialGroupChange | None:
    person = await repository.person(session, person_id)
    if person is None:
        raise NotFound("用户不存在", "No such person")
    if not reader.has_role("city_admin", "auditor") and person.residence_district != reader.district:
        raise OutsideDistrict()
    return await repository.latest_special_group_change(session, person_id)
