from __future__ import annotations

import uuid
from datetime import date, datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from identity.api.deps import Session
from identity.api.guardianships import MyGuardianship
from identity.api.inbox import InboxMessage
from identity.api.kinships import KinshipResponse
from identity.api.people import QualificationResponse
from identity.domain import export
from identity.domain.real_name import beijing_today
from servicekit.auth import CurrentPrincipal
from servicekit.errors import Forbidden

router = APIRouter(tags=["people"])


class RoleRecord(BaseModel):
    role: str
    granted_by: str
    reason: str
    granted_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    revoke_reason: str | None


class TrainingRecord(BaseModel):
    kind: str
    completed_on: date
    certificate_number: str | None
    certificate_expires_on: date | None
    recorded_by: str
    recorded_at: datetime


class InsuranceRecord(BaseModel):
    registered: bool
    insured: bool
    valid_from: date | None
    valid_until: date | None
    recorded_at: datetime


class IdentityExport(BaseModel):
    """What identity holds about the caller."""

    person_id: uuid.UUID
    registered_via: str
    registered_at: datetime
    residence_district: str | None
    permanent_resident: bool | None
    name: str | None = Field(description="the verified real name")
    id_number: str | None = Field(description="the verified 居民身份证号")
    phone: str | None = Field(description="the proven contact phone")
    roles: list[RoleRecord] = Field(description="every grant, live and revoked, with who and why")
    kinships: list[KinshipResponse]
    guardianships: list[MyGuardianship]
    trainings: list[TrainingRecord]
    qualifications: list[QualificationResponse]
    insurance: InsuranceRecord | None
    special_elder_categories: list[str]
    messages: list[InboxMessage] = Field(description="every message sent to you")


@router.get(
    "/api/v1/me/data/identity",
    response_model=IdentityExport,
    summary="The caller's data held by identity, personal data in the clear (the read is audited; part of "
    "GET /api/v1/me/data)",
)
async def my_identity_data(principal: CurrentPrincipal, session: Session, request: Request) -> IdentityExport:
    if principal.kind != "person":
        raise Forbidden("仅限本人", "Persons themselves only")
    data = await export.data_of(session, request.app.state.pii, uuid.UUID(principal.id))
    person, today = data.person, beijing_today()
    return IdentityExport(
        person_id=person.id,
        registered_via=person.registered_via,
        registered_at=person.created_at,
        residence_district=person.residence_district,
        permanent_resident=person.permanent_resident,
        name=data.name,
        id_number=data.id_number,
        phone=data.phone,
        roles=[
            RoleRecord(
                role=g.role,
                granted_by=g.granted_by,
                reason=g.grant_reason,
                granted_at=g.granted_at,
                expires_at=g.expires_at,
                revoked_at=g.revoked_at,
                revoke_reason=g.revoke_reason,
            )
            for g in data.roles
        ],
        kinships=[KinshipResponse.model_validate(v, from_attributes=True) for v in data.kinships],
        guardianships=[MyGuardianship.model_validate(v, from_attributes=True) for v in data.guardianships],
        trainings=[TrainingRecord.model_validate(t, from_attributes=True) for t in data.trainings],
        qualifications=[QualificationResponse.of(q, today) for q in data.qualifications],
        insurance=InsuranceRecord.model_validate(data.insurance, from_attributes=True) if data.insurance else None,
        special_elder_categories=list(data.special_groups.categories) if data.special_groups else [],
        messages=[InboxMessage.model_validate(m, from_attributes=True) for m in data.messages],
    )
