from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from contracts.districts import DISTRICTS, District
from identity.api.deps import Session
from identity.db.people import Listed
from identity.domain import people_directory, special_groups
from identity.domain.real_name import age_from, beijing_today
from servicekit import exports
from servicekit.auth import Principal, require_roles
from servicekit.openapi import problem_responses
from servicekit.pagination import Page, PageParams, page_of

router = APIRouter(tags=["people"])
Reader = Annotated[Principal, Depends(require_roles("district_officer", "city_admin", "auditor"))]
Finder = Annotated[
    Principal, Depends(require_roles("district_officer", "city_admin", "auditor", "institution_operator"))
]
LIST = people_directory.LIST
EXPORTED = [
    exports.Column("name_masked", "姓名"),
    exports.Column("id_number_masked", "身份证号"),
    exports.Column("phone_masked", "手机号"),
    exports.Column("age", "年龄"),
    exports.Column("district_name", "所在区"),
    exports.Column("permanent_resident", "本市常住居民"),
    exports.Column("registered_via", "注册方式"),
    exports.Column("registered_at", "注册时间"),
    exports.Column("suspended", "已暂停"),
]


class PersonListed(BaseModel):
    person_id: uuid.UUID
    name_masked: str | None = Field(description="null until real-name verification")
    id_number_masked: str | None
    phone_masked: str | None
    age: int | None
    district: str | None
    permanent_resident: bool | None
    registered_via: str = Field(description="wechat, or offline through an institution")
    registered_at: datetime
    suspended: bool


def _listed(person: Listed) -> PersonListed:
    return PersonListed(
        person_id=person.person_id,
        name_masked=person.name_masked,
        id_number_masked=person.id_number_masked,
        phone_masked=person.phone_masked,
        age=age_from(person.turns_18_on, beijing_today()) if person.turns_18_on else None,
        district=person.district,
        permanent_resident=person.permanent_resident,
        registered_via=person.registered_via,
        registered_at=person.created_at,
        suspended=person.suspended,
    )


@router.get(
    "/api/v1/people",
    response_model=Page[PersonListed],
    responses=problem_responses(403, 422),
    summary="Find people by full name, phone (full or 138****1234) or full 居民身份证号 (institutions: a full number or "
    "phone only); each look-up is audited",
)
async def find_people(
    request: Request,
    reader: Finder,
    session: Session,
    page: PageParams,
    q: Annotated[str | None, Query(max_length=40, description="a full name, phone or identity number")] = None,
    district: Annotated[District | None, Query(description="city admin and auditors: one district")] = None,
) -> Page[PersonListed]:
    wanted = page.for_list(LIST)
    found = await people_directory.search(
        session, request.app.state.pii, reader=reader, q=q, district=district, page=wanted
    )
    shown, cursor = page_of(LIST, found, wanted, at="created_at", id="person_id")
    return Page[PersonListed](items=[_listed(p) for p in shown], next_cursor=cursor)


@router.get(
    "/api/v1/people/export",
    response_class=Response,
    responses={**exports.RESPONSES, **problem_responses(403, 422)},
    summary="The same search as a CSV or XLSX file (masked data only); the export is on the audit trail",
)
async def export_people(
    request: Request,
    reader: Reader,
    session: Session,
    format: exports.Format = "xlsx",
    q: Annotated[str | None, Query(max_length=40, description="a full name, phone or identity number")] = None,
    district: Annotated[District | None, Query(description="city admin and auditors: one district")] = None,
) -> Response:
    found = await people_directory.export(
        session, request.app.state.pii, reader=reader, q=q, district=district, fmt=format
    )
    rows = [_listed(p).model_dump() | {"district_name": DISTRICTS.get(p.district or "", "")} for p in found]
    return exports.file(EXPORTED, rows, format, "人员名单")


class Label(BaseModel):
    code: str
    label: str


class TrainingView(BaseModel):
    kind: str
    completed_on: date
    certificate_expires_on: date | None


class KinshipView(BaseModel):
    link_id: uuid.UUID
    relative_id: uuid.UUID = Field(description="the other person of the link")
    relation: str = Field(description="as the claimant stated it")
    claimed_by_this_person: bool
    status: str


class GuardianshipView(BaseModel):
    guardianship_id: uuid.UUID
    guardian_id: uuid.UUID
    minor_id: uuid.UUID
    status: str


class SanctionView(BaseModel):
    sanction_id: uuid.UUID
    kind: str
    applied_at: datetime
    note: str


class Representation(BaseModel):
    district: str
    consent_ref: str
    registered_by: str


class PersonProfile(PersonListed):
    residence_checked_at: datetime | None
    residence_checked_by: str | None
    suspended_at: datetime | None
    suspension_reason: str | None
    roles: list[str]
    special_groups: list[Label]
    trainings: list[TrainingView]
    kinships: list[KinshipView]
    guardianships: list[GuardianshipView]
    sanctions: list[SanctionView] = Field(description="in force")
    represented_by: Representation | None = Field(description="an institution acts for them offline")


@router.get(
    "/api/v1/people/{person_id}",
    response_model=PersonProfile,
    responses=problem_responses(403, 404),
    summary="A person's page for staff: masked personal data, roles, residence, special-elder categories, "
    "training, kinships, guardianships and sanctions in force",
)
async def person_page(person_id: uuid.UUID, reader: Finder, session: Session) -> PersonProfile:
    found = await people_directory.profile(session, reader=reader, person_id=person_id)
    person = found.person
    representation = found.represented_by
    return PersonProfile(
        **_listed(found.listed).model_dump(),
        residence_checked_at=person.residence_checked_at,
        residence_checked_by=person.residence_checked_by,
        suspended_at=person.suspended_at,
        suspension_reason=person.suspension_reason,
        roles=list(found.roles),
        special_groups=[Label(code=c, label=special_groups.CATEGORIES[c]) for c in found.special_groups],
        trainings=[TrainingView.model_validate(t, from_attributes=True) for t in found.trainings],
        kinships=[
            KinshipView(
                link_id=link.id,
                relative_id=link.relative_id if link.claimant_id == person_id else link.claimant_id,
                relation=link.relation,
                claimed_by_this_person=link.claimant_id == person_id,
                status=link.status,
            )
            for link in found.kinships
        ],
        guardianships=[
            GuardianshipView(guardianship_id=g.id, guardian_id=g.guardian_id, minor_id=g.minor_id, status=g.status)
            for g in found.guardianships
        ],
        sanctions=[
            SanctionView(sanction_id=s.id, kind=s.kind, applied_at=s.applied_at, note=s.note) for s in found.sanctions
        ],
        represented_by=Representation.model_validate(representation, from_attributes=True) if representation else None,
    )
