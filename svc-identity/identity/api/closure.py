from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field, model_validator

from identity.api.deps import Session, settings_of
from identity.domain import closure
from servicekit.auth import CurrentPrincipal
from servicekit.errors import Forbidden
from servicekit.openapi import problem_responses

router = APIRouter(tags=["people"])


class ClosureRequest(BaseModel):
    coins_to: Literal["welfare", "relative"] = Field(
        description="where your transferable coins (earned, gifted) go: the public-welfare account, or a confirmed "
        "direct relative; granted and allocated coins go back where they came from"
    )
    relative_id: uuid.UUID | None = Field(None, description="the relative, when coins_to is relative")

    @model_validator(mode="after")
    def _relative_named_when_needed(self) -> ClosureRequest:
        if (self.coins_to == "relative") != (self.relative_id is not None):
            raise ValueError("relative_id is given exactly when coins_to is relative")
        return self


class ClosureOut(BaseModel):
    person_id: uuid.UUID
    state: Literal["requested", "withdrawn", "erased"]
    requested_at: datetime
    erase_after: datetime = Field(description="until then you may withdraw; then your personal data is erased")
    coins_to: Literal["welfare", "relative"]
    relative_id: uuid.UUID | None
    withdrawn_at: datetime | None
    erased_at: datetime | None


async def _person(principal: CurrentPrincipal) -> uuid.UUID:
    """Checked before the body is read: a staff caller is refused, whatever they send."""
    if principal.kind != "person":
        raise Forbidden("只有本人可以注销账户", "Only the person closes their account")
    return uuid.UUID(principal.id)


Person = Annotated[uuid.UUID, Depends(_person)]


@router.post(
    "/api/v1/me/closure",
    response_model=ClosureOut,
    status_code=202,
    summary="Close my account (注销): pending services are cancelled now, personal data erased after the "
    "cooling-off period unless withdrawn",
)
async def request_closure(body: ClosureRequest, person_id: Person, session: Session, request: Request) -> ClosureOut:
    days = settings_of(request).closure_cooling_off_days
    asked = await closure.request(
        session,
        person_id=person_id,
        coins_to=body.coins_to,
        relative_id=body.relative_id,
        cooling_off=timedelta(days=days),
    )
    return ClosureOut.model_validate(asked, from_attributes=True)


@router.get(
    "/api/v1/me/closure",
    response_model=ClosureOut,
    responses=problem_responses(404),
    summary="My account closure, if asked",
)
async def my_closure(person_id: Person, session: Session) -> ClosureOut:
    return ClosureOut.model_validate(await closure.of(session, person_id), from_attributes=True)


@router.post(
    "/api/v1/me/closure/withdrawal",
    response_model=ClosureOut,
    responses=problem_responses(404),
    summary="Keep my account after all (within the cooling-off period)",
)
async def withdraw_closure(person_id: Person, session: Session) -> ClosureOut:
    return ClosureOut.model_validate(await closure.withdraw(session, person_id), from_attributes=True)
