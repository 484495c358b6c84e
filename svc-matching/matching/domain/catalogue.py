"""The service catalogue: the eight categories (八大类) fixed city-wide, and items under them. City-wide items
come with the system; each district office adds, edits and retires its own local items (个性化服务项目).
A retired item stays on record (old requests name it) but cannot be requested again."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.districts import DISTRICTS
from servicekit.auth import Principal
from servicekit.errors import Conflict, NotFound, UnprocessableInput
from matching.domain.errors import OutsideDistrict

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


@dataclass(frozen=True)
class Item:
    id: uuid.UUID
    category: str
    district: str | None
    name: str
    description: str | None
    max_minutes: int
    group_activity: bool
    max_volunteers: int
    night_service: bool
    retired_at: datetime | None

    def offered_in(self, district: str) -> bool:
        return self.retired_at is None and self.district in (None, district)


_COLUMNS = ("id, category, district, name, description, max_minutes, group_activity, max_volunteers, night_service,"
            " retired_at")


async def item(session: AsyncSession, item_id: uuid.UUID) -> Item | None:
    row = (await session.execute(text(f"SELECT {_COLUMNS} FROM catalogue_items WHERE id = :i"), {"i": item_id})).first()
    return Item(*row) if row else None


async def items_for(session: AsyncSession, district: str | None) -> list[Item]:
    """Live items offered in `district` (city-wide ones and its own); every district's when None."""
    rows = (await session.execute(text(
        f"SELECT {_COLUMNS} FROM catalogue_items WHERE retired_at IS NULL"
        " AND (CAST(:d AS text) IS NULL OR district IS NULL OR district = :d) ORDER BY category, district NULLS FIRST, name"),
        {"d": district})).all()
    return [Item(*row) for row in rows]


def _check_district(officer: Principal, district: str | None) -> str:
    if officer.district is None or officer.district not in DISTRICTS:
        raise OutsideDistrict("只有区民政可以管理本区服务项目", "Only a district office manages its local items")
    if district is not None and district != officer.district:
        raise OutsideDistrict()
    return officer.district


async def add_item(session: AsyncSession, officer: Principal, *, category: str, name: str, description: str | None,
                   max_minutes: int, group_activity: bool, max_volunteers: int, night_service: bool) -> Item:
    district = _check_district(officer, None)
    if category not in CATEGORIES:
        raise UnprocessableInput("服务类别不存在", f"Unknown category {category}")
    if not group_activity and max_volunteers != 1:
        raise UnprocessableInput("非集体活动只能由一名志愿者承接", "Only a group activity takes several volunteers")
    item_id = uuid.uuid4()
    inserted = (await session.execute(text(
        "INSERT INTO catalogue_items (id, category, district, name, description, max_minutes, group_activity,"
        " max_volunteers, night_service, created_by, updated_by) VALUES (:id, :c, :d, :n, :desc, :m, :g, :v, :night,"
        " :by, :by) ON CONFLICT DO NOTHING RETURNING id"),
        {"id": item_id, "c": category, "d": district, "n": name, "desc": description, "m": max_minutes,
         "g": group_activity, "v": max_volunteers, "night": night_service, "by": officer.id})).first()
    if inserted is None:
        raise Conflict("本区该类别下已有同名服务项目", "The district already offers an item of that name")
    return await item(session, item_id)  # type: ignore[return-value]


async def edit_item(session: AsyncSession, officer: Principal, item_id: uuid.UUID, changes: dict) -> Item:
    existing = await item(session, item_id)
    if existing is None:
        raise NotFound("服务项目不存在", "No such item")
    if existing.district is None:
        raise OutsideDistrict("全市统一项目由市民政局维护", "City-wide items are kept by the city bureau")
    _check_district(officer, existing.district)
    if existing.retired_at is not None:
        raise Conflict("服务项目已停用", "The item is retired")
    merged = {**{k: getattr(existing, k) for k in ("name", "description", "max_minutes", "group_activity",
                                                   "max_volunteers", "night_service")}, **changes}
    if not merged["group_activity"] and merged["max_volunteers"] != 1:
        raise UnprocessableInput("非集体活动只能由一名志愿者承接", "Only a group activity takes several volunteers")
    try:
        async with session.begin_nested():
            await session.execute(text(
                "UPDATE catalogue_items SET name = :name, description = :description, max_minutes = :max_minutes,"
                " group_activity = :group_activity, max_volunteers = :max_volunteers, night_service = :night_service,"
                " updated_by = :by, updated_at = now() WHERE id = :id"), {**merged, "by": officer.id, "id": item_id})
    except Exception as exc:  # the unique name index
        if "catalogue_item_name" in str(exc):
            raise Conflict("本区该类别下已有同名服务项目", "The district already offers an item of that name") from None
        raise
    return await item(session, item_id)  # type: ignore[return-value]


async def retire_item(session: AsyncSession, officer: Principal, item_id: uuid.UUID) -> Item:
    existing = await item(session, item_id)
    if existing is None:
        raise NotFound("服务项目不存在", "No such item")
    if existing.district is None:
        raise OutsideDistrict("全市统一项目由市民政局维护", "City-wide items are kept by the city bureau")
    _check_district(officer, existing.district)
    await session.execute(text(
        "UPDATE catalogue_items SET retired_at = coalesce(retired_at, now()), updated_by = :by, updated_at = now()"
        " WHERE id = :id"), {"by": officer.id, "id": item_id})
    return await item(session, item_id)  # type: ignore[return-value]
