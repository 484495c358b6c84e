from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from contracts.districts import District
from contracts.identity import QualificationKind
from matching.domain import catalogue
from servicekit.auth import CurrentPrincipal, Principal, require_roles
from servicekit.deps import DbSession

router = APIRouter(tags=["catalogue"])
Officer = Annotated[Principal, Depends(require_roles("district_officer"))]


class ItemOut(BaseModel):
    id: uuid.UUID
    category: str
    district: str | None = Field(description="null: offered city-wide")
    name: str
    description: str | None
    max_minutes: int
    group_activity: bool
    max_volunteers: int
    night_service: bool
    qualification: QualificationKind | None = Field(
        description="the professional qualification a volunteer must hold to book it (legal: 法律职业资格, "
        "medical: 医护执业资格); null: none"
    )
    retired: bool

    @classmethod
    def of(cls, item: catalogue.Item) -> ItemOut:
        return cls(
            id=item.id,
            category=item.category,
            district=item.district,
            name=item.name,
            description=item.description,
            max_minutes=item.max_minutes,
            group_activity=item.group_activity,
            max_volunteers=item.max_volunteers,
            night_service=item.night_service,
            qualification=item.qualification,
            retired=item.retired_at is not None,
        )


class CategoryOut(BaseModel):
    code: str
    name: str
    items: list[ItemOut]


class NewItem(BaseModel):
    category: str
    name: str = Field(min_length=2, max_length=60)
    description: str | None = Field(default=None, max_length=500)
    max_minutes: int = Field(default=180, ge=15, le=720)
    group_activity: bool = False
    max_volunteers: int = Field(default=1, ge=1, le=50)
    night_service: bool = Field(default=False, description="a documented late-night item (e.g. night care)")
    qualification: QualificationKind | None = Field(default=None, description="a qualification volunteers must hold")


class ItemChanges(BaseModel):
    name: str | None = Field(default=None, min_length=2, max_length=60)
    description: str | None = Field(default=None, max_length=500)
    max_minutes: int | None = Field(default=None, ge=15, le=720)
    group_activity: bool | None = None
    max_volunteers: int | None = Field(default=None, ge=1, le=50)
    night_service: bool | None = None
    qualification: QualificationKind | None = Field(default=None, description="null (given) drops the requirement")


@router.get(
    "/api/v1/service-catalog",
    response_model=list[CategoryOut],
    summary="The eight categories with the items offered city-wide and in `district` (every district's if omitted)",
)
async def list_catalogue(
    principal: CurrentPrincipal, session: DbSession, district: Annotated[District | None, Query()] = None
) -> list[CategoryOut]:
    items = await catalogue.items_for(session, district)
    return [
        CategoryOut(code=code, name=name, items=[ItemOut.of(i) for i in items if i.category == code])
        for code, name in catalogue.CATEGORIES.items()
    ]


@router.post(
    "/api/v1/service-catalog/items",
    status_code=201,
    response_model=ItemOut,
    summary="Add a local item to the officer's district",
)
async def add_item(body: NewItem, officer: Officer, session: DbSession) -> ItemOut:
    return ItemOut.of(await catalogue.add_item(session, officer, **body.model_dump()))


@router.patch(
    "/api/v1/service-catalog/items/{item_id}", response_model=ItemOut, summary="Edit a local item of the district"
)
async def edit_item(item_id: uuid.UUID, body: ItemChanges, officer: Officer, session: DbSession) -> ItemOut:
    changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None or k == "qualification"}
    return ItemOut.of(await catalogue.edit_item(session, officer, item_id, changes))


@router.post(
    "/api/v1/service-catalog/items/{item_id}/retire",
    response_model=ItemOut,
    summary="Retire a local item: no new requests name it",
)
async def retire_item(item_id: uuid.UUID, officer: Officer, session: DbSession) -> ItemOut:
    return ItemOut.of(await catalogue.retire_item(session, officer, item_id))
