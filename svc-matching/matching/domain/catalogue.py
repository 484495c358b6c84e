"""The service catalogue: the eight categories (八大类) fixed city-wide, and items under them. City-wide items
come with the system; each district office adds, edits and retires its own local items (个性化服务项目).
A retired item stays on record (old requests name it) but cannot be requested again."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.districts import DISTRICTS
from matching.db import catalogue as repo
from matching.db.catalogue import Item
from matching.domain.errors import OutsideDistrict
from servicekit.auth import Principal
from servicekit.errors import Conflict, NotFound, UnprocessableInput

CATEGORIES: dict[str, str] = {
    "emotional_comfort": "情感慰藉",
    "assistance": "协助服务",
    "travel_companionship": "出行陪伴",
    "culture_sports": "文体活动",
    "health_education": "健康科普",
    "legal_aid": "法律援助",
    "training_lectures": "培训讲座",
    "fraud_prevention": "指导防范金融和网络风险",
}


async def item(session: AsyncSession, item_id: uuid.UUID) -> Item | None:
    return await repo.get(session, item_id)


async def items_for(session: AsyncSession, district: str | None) -> list[Item]:
    return await repo.live_items(session, district)


def _check_district(officer: Principal, district: str | None) -> str:
    if officer.district is None or officer.district not in DISTRICTS:
        raise OutsideDistrict("只有区民政可以管理本区服务项目", "Only a district office manages its local items")
    if district is not None and district != officer.district:
        raise OutsideDistrict()
    return officer.district


def _check_group(group_activity: bool, max_volunteers: int) -> None:
    if not group_activity and max_volunteers != 1:
        raise UnprocessableInput("非集体活动只能由一名志愿者承接", "Only a group activity takes several volunteers")


_NAME_TAKEN = ("本区该类别下已有同名服务项目", "The district already offers an item of that name")


# Professional qualifications an item may need before a volunteer books it (identity records who holds them).
QUALIFICATIONS: dict[str, str] = {"legal": "法律职业资格", "medical": "医护执业资格"}


async def add_item(
    session: AsyncSession,
    officer: Principal,
    *,
    category: str,
    name: str,
    description: str | None,
    max_minutes: int,
    group_activity: bool,
    max_volunteers: int,
    night_service: bool,
    qualification: str | None,
) -> Item:
    district = _check_district(officer, None)
    if category not in CATEGORIES:
        raise UnprocessableInput("服务类别不存在", f"Unknown category {category}")
    _check_group(group_activity, max_volunteers)
    item_id = uuid.uuid4()
    fields = {
        "name": name,
        "description": description,
        "max_minutes": max_minutes,
        "group_activity": group_activity,
        "max_volunteers": max_volunteers,
        "night_service": night_service,
        "qualification": qualification,
    }
    if not await repo.insert(
        session, item_id=item_id, category=category, district=district, by=officer.id, fields=fields
    ):
        raise Conflict(*_NAME_TAKEN)
    return await _stored(session, item_id)


async def _local_item(session: AsyncSession, officer: Principal, item_id: uuid.UUID) -> Item:
    """An item of the officer's own district (city-wide items are the city bureau's)."""
    existing = await repo.get(session, item_id)
    if existing is None:
        raise NotFound("服务项目不存在", "No such item")
    if existing.district is None:
        raise OutsideDistrict("全市统一项目由市民政局维护", "City-wide items are kept by the city bureau")
    _check_district(officer, existing.district)
    return existing


async def edit_item(session: AsyncSession, officer: Principal, item_id: uuid.UUID, changes: dict) -> Item:
    existing = await _local_item(session, officer, item_id)
    if existing.retired_at is not None:
        raise Conflict("服务项目已停用", "The item is retired")
    merged = {**{k: getattr(existing, k) for k in repo.EDITABLE}, **changes}
    _check_group(merged["group_activity"], merged["max_volunteers"])
    if not await repo.update(session, item_id, merged, by=officer.id):
        raise Conflict(*_NAME_TAKEN)
    return await _stored(session, item_id)


async def retire_item(session: AsyncSession, officer: Principal, item_id: uuid.UUID) -> Item:
    await _local_item(session, officer, item_id)
    await repo.retire(session, item_id, by=officer.id)
    return await _stored(session, item_id)


async def _stored(session: AsyncSession, item_id: uuid.UUID) -> Item:
    """The item just written in this transaction."""
    item = await repo.get(session, item_id)
    assert item is not None
    return item
