from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from contracts.districts import District
from contracts.identity import QualificationKind
from identity.api.deps import Session
from identity.domain import offline, qualifications, residence, special_groups, training
from identity.domain.real_name import beijing_today
from servicekit.auth import CurrentPrincipal, Principal, require_roles
from servicekit.errors import Forbidden
from servicekit.pagination import Page, PageParams

router = APIRouter(tags=["people"])
Category = Literal[
    "economic_hardship",
    "severe_disability_or_dementia",
    "family_planning_special",
    "severe_disability",
    "advanced_age",
    "other",
]


class ResidenceRequest(BaseModel):
    district: District = Field(description="one of Beijing's 16 district codes, e.g. 110105")
    permanent_resident: bool = Field(description="a Beijing permanent resident (常住居民)")


class ResidenceResponse(BaseModel):
    person_id: uuid.UUID
    district: str
    permanent_resident: bool
    declared_at: datetime


class SpecialGroupsRequest(BaseModel):
    categories: list[Category] = Field(max_length=6, description="empty clears them")
    note: str | None = Field(None, max_length=500, description="required with 'other'")
    reason: str = Field(min_length=2, max_length=500)


class SpecialGroupsResponse(BaseModel):
    person_id: uuid.UUID
    district: str | None
    categories: list[str]
    labels: list[str]
    note: str | None
    reason: str | None
    set_by: str | None
    set_at: datetime | None


Officer = Annotated[Principal, Depends(require_roles("district_officer"))]
Reader = Annotated[Principal, Depends(require_roles("district_officer", "city_admin", "auditor"))]


@router.put(
    "/api/v1/me/residence",
    response_model=ResidenceResponse,
    summary="Declare the caller's district of residence and permanent-resident status",
)
async def declare_residence(body: ResidenceRequest, principal: CurrentPrincipal, session: Session) -> ResidenceResponse:
    if principal.kind != "person" and not principal.acting_for:
        raise Forbidden("只有个人可以登记居住地", "Only people declare a residence")
    person = await residence.declare_residence(
        session,
        person_id=uuid.UUID(principal.subject),
        district=body.district,
        permanent_resident=body.permanent_resident,
        actor=principal.id,
        acting_for=principal.acting_for,
    )
    return ResidenceResponse(
        person_id=person.id,
        district=person.residence_district,
        permanent_resident=person.permanent_resident,
        declared_at=person.residence_declared_at,
    )


def _special_response(person_id: uuid.UUID, change) -> SpecialGroupsResponse:
    if change is None:
        return SpecialGroupsResponse(
            person_id=person_id,
            district=None,
            categories=[],
            labels=[],
            note=None,
            reason=None,
            set_by=None,
            set_at=None,
        )
    return SpecialGroupsResponse(
        person_id=person_id,
        district=change.district,
        categories=change.categories,
        labels=[special_groups.CATEGORIES[c] for c in change.categories],
        note=change.note,
        reason=change.reason,
        set_by=change.set_by,
        set_at=change.set_at,
    )


@router.post(
    "/api/v1/people/{person_id}/special-groups",
    response_model=SpecialGroupsResponse,
    summary="Set (or, with an empty list, clear) a resident elder's special-elder categories",
)
async def set_special_groups(
    person_id: uuid.UUID, body: SpecialGroupsRequest, officer: Officer, session: Session
) -> SpecialGroupsResponse:
    change = await special_groups.set_special_groups(
        session,
        person_id=person_id,
        officer=officer,
        categories=list(body.categories),
        note=body.note,
        reason=body.reason,
        today=beijing_today(),
    )
    return _special_response(person_id, change)


@router.get(
    "/api/v1/people/{person_id}/special-groups",
    response_model=SpecialGroupsResponse,
    summary="A person's current special-elder categories (officers of their district, city admin, auditor)",
)
async def get_special_groups(person_id: uuid.UUID, reader: Reader, session: Session) -> SpecialGroupsResponse:
    return _special_response(person_id, await special_groups.current(session, person_id=person_id, reader=reader))


class TrainingRequest(BaseModel):
    kind: Literal["volunteer", "first_aid"]
    completed_on: date
    certificate_number: str | None = Field(None, max_length=64)
    certificate_expires_on: date | None = Field(None, description="required for first_aid")


class TrainingResponse(BaseModel):
    training_id: uuid.UUID
    person_id: uuid.UUID
    kind: str
    completed_on: date
    certificate_expires_on: date | None
    recorded_by: str
    roles: list[str] = Field(description="the person's roles after this record")


@router.post(
    "/api/v1/people/{person_id}/training",
    response_model=TrainingResponse,
    status_code=201,
    summary="Record completed volunteer or first-aid training (institution operators)",
)
async def record_training(
    person_id: uuid.UUID,
    body: TrainingRequest,
    session: Session,
    operator: Annotated[Principal, Depends(require_roles("institution_operator"))],
) -> TrainingResponse:
    record, live = await training.record_training(
        session,
        person_id=person_id,
        kind=body.kind,
        completed_on=body.completed_on,
        certificate_number=body.certificate_number,
        certificate_expires_on=body.certificate_expires_on,
        recorded_by=operator.id,
        today=beijing_today(),
    )
    return TrainingResponse(
        training_id=record.id,
        person_id=person_id,
        kind=record.kind,
        completed_on=record.completed_on,
        certificate_expires_on=record.certificate_expires_on,
        recorded_by=record.recorded_by,
        roles=live,
    )


class QualificationRequest(BaseModel):
    kind: QualificationKind = Field(description="legal: 法律职业资格; medical: 医护执业资格")
    evidence_ref: str = Field(min_length=3, max_length=128, description="the certificate's number (执业证号) seen")
    valid_until: date = Field(description="the last day the certificate is valid")


class QualificationRevocation(BaseModel):
    reason: str = Field(min_length=2, max_length=200)


class QualificationResponse(BaseModel):
    id: uuid.UUID
    person_id: uuid.UUID
    kind: QualificationKind
    name: str = Field(description="the kind in Chinese")
    evidence_ref: str
    valid_until: date
    valid_today: bool
    institution_id: uuid.UUID | None
    recorded_by: str
    recorded_at: datetime
    revoked_at: datetime | None
    revoke_reason: str | None

    @classmethod
    def of(cls, record, today: date) -> QualificationResponse:
        return cls(
            id=record.id,
            person_id=record.person_id,
            kind=record.kind,
            name=qualifications.KINDS[record.kind],
            evidence_ref=record.evidence_ref,
            valid_until=record.valid_until,
            valid_today=record.revoked_at is None and record.valid_until >= today,
            institution_id=record.institution_id,
            recorded_by=record.recorded_by,
            recorded_at=record.recorded_at,
            revoked_at=record.revoked_at,
            revoke_reason=record.revoke_reason,
        )


@router.post(
    "/api/v1/people/{person_id}/qualifications",
    response_model=QualificationResponse,
    status_code=201,
    summary="Record a volunteer's professional qualification with its evidence (institution operators); "
    "it replaces a live one of the same kind",
)
async def record_qualification(
    person_id: uuid.UUID,
    body: QualificationRequest,
    session: Session,
    operator: Annotated[Principal, Depends(require_roles("institution_operator"))],
) -> QualificationResponse:
    today = beijing_today()
    record = await qualifications.record(
        session,
        person_id=person_id,
        kind=body.kind,
        evidence_ref=body.evidence_ref,
        valid_until=body.valid_until,
        operator=operator,
        today=today,
    )
    return QualificationResponse.of(record, today)


@router.post(
    "/api/v1/people/{person_id}/qualifications/{qualification_id}/revoke",
    response_model=QualificationResponse,
    summary="Withdraw a qualification with a reason (its institution, the district's officers, city admins)",
)
async def revoke_qualification(
    person_id: uuid.UUID,
    qualification_id: uuid.UUID,
    body: QualificationRevocation,
    session: Session,
    staff: Annotated[Principal, Depends(require_roles("institution_operator", "district_officer", "city_admin"))],
) -> QualificationResponse:
    record = await qualifications.revoke(
        session, person_id=person_id, qualification_id=qualification_id, by=staff, reason=body.reason
    )
    return QualificationResponse.of(record, beijing_today())


@router.get(
    "/api/v1/people/{person_id}/qualifications",
    response_model=Page[QualificationResponse],
    summary="A person's qualifications, live and revoked, newest first (staff of their district, city staff)",
)
async def person_qualifications(
    person_id: uuid.UUID,
    session: Session,
    page: PageParams,
    staff: Annotated[
        Principal, Depends(require_roles("institution_operator", "district_officer", "city_admin", "auditor"))
    ],
) -> Page[QualificationResponse]:
    return await _qualification_page(session, person_id, staff, page)


@router.get(
    "/api/v1/me/qualifications",
    response_model=Page[QualificationResponse],
    summary="My professional qualifications, newest first",
)
async def my_qualifications(
    principal: CurrentPrincipal, session: Session, page: PageParams
) -> Page[QualificationResponse]:
    if principal.kind != "person":
        raise Forbidden("仅限个人", "People only")
    return await _qualification_page(session, uuid.UUID(principal.id), principal, page)


async def _qualification_page(
    session, person_id: uuid.UUID, reader: Principal, page: PageParams
) -> Page[QualificationResponse]:
    today = beijing_today()
    records, cursor = await qualifications.of_person(
        session, person_id=person_id, reader=reader, page=page.for_list(qualifications.QUALIFICATIONS)
    )
    return Page[QualificationResponse](items=[QualificationResponse.of(r, today) for r in records], next_cursor=cursor)


class OfflineRegistrationRequest(BaseModel):
    consent_ref: str = Field(min_length=3, max_length=128, description="the person's signed consent on file (编号)")
    permanent_resident: bool = Field(
        description="a Beijing permanent resident (常住居民); the district is the institution's"
    )


class OfflineRegistrationResponse(BaseModel):
    person_id: uuid.UUID
    district: str
    registered_by: str


@router.post(
    "/api/v1/people",
    response_model=OfflineRegistrationResponse,
    status_code=201,
    summary="Register someone who cannot use a phone; the institution then acts for them",
)
async def register_offline(
    body: OfflineRegistrationRequest,
    session: Session,
    operator: Annotated[Principal, Depends(require_roles("institution_operator"))],
) -> OfflineRegistrationResponse:
    person = await offline.register_offline(
        session, operator=operator, consent_ref=body.consent_ref, permanent_resident=body.permanent_resident
    )
    return OfflineRegistrationResponse(
        person_id=person.id, district=person.residence_district, registered_by=operator.id
    )


class ResidenceCheckRequest(BaseModel):
    confirmed: bool = Field(description="the declaration matches the documents seen (户口簿 / 居住证)")
    note: str = Field(min_length=2, max_length=500)


class ResidenceCheckResponse(BaseModel):
    person_id: uuid.UUID
    district: str | None
    permanent_resident: bool | None
    checked_by: str
    checked_at: datetime


@router.post(
    "/api/v1/people/{person_id}/residence-check",
    response_model=ResidenceCheckResponse,
    summary="A district officer checks a resident's declared permanent residence",
)
async def check_residence(
    person_id: uuid.UUID, body: ResidenceCheckRequest, officer: Officer, session: Session
) -> ResidenceCheckResponse:
    person = await residence.check_residence(
        session, person_id=person_id, officer=officer, confirmed=body.confirmed, note=body.note
    )
    return ResidenceCheckResponse(
        person_id=person.id,
        district=person.residence_district,
        permanent_resident=person.permanent_resident,
        checked_by=person.residence_checked_by,
        checked_at=person.residence_checked_at,
    )
