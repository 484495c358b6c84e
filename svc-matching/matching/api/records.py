from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts.districts import DISTRICTS, District
from matching.api.deps import PeopleAndStaff, Reviewer, cipher_of
from matching.api.requests import RequestState
from matching.domain import catalogue, records, requests
from matching.domain.callers import person_of
from servicekit import clock, exports
from servicekit.auth import Jwks, Principal, require_roles, require_scope
from servicekit.deps import DbSession
from servicekit.errors import Forbidden
from servicekit.geo import PositionOut
from servicekit.openapi import problem_responses

router = APIRouter(tags=["records"])
VolunteerBeijing = Annotated[Principal, Depends(require_scope("volunteer-beijing"))]
Overseer = Annotated[Principal, Depends(require_roles("district_officer", "city_admin", "auditor"))]


class StarStep(BaseModel):
    stars: int
    at_hours: int


class VolunteerRecord(BaseModel):
    volunteer_id: uuid.UUID
    services: int
    minutes_served: int
    hours_served: float
    average_rating: float | None
    ratings: int
    star_level: int
    next_star: StarStep | None
    no_shows: int
    late_cancellations: int
    revoked_records: int


class RequestCount(BaseModel):
    district: str
    category: str
    state: str
    requests: int


class RequestStatistics(BaseModel):
    """For requests created in the period, in the district (null: every district, for city staff)."""

    model_config = ConfigDict(populate_by_name=True)

    district: str | None
    from_: datetime = Field(alias="from")
    to: datetime
    by_category_and_state: list[RequestCount]
    minutes_served: int
    services: int
    volunteers: int
    average_rating: float | None
    ratings: int
    flagged: int = Field(description="ratings flagged for review")
    expired_unserved: int = Field(description="requests that expired with nobody booked")
    open_past_start: int = Field(description="requests still open after their start")


class Participant(BaseModel):
    volunteer_id: uuid.UUID
    minutes: int = Field(description="0 once the record is revoked")


class ServiceRecord(BaseModel):
    record_id: uuid.UUID
    district: str
    category: str
    category_name: str
    item_id: uuid.UUID
    item_name: str | None
    starts_at: datetime
    ends_at: datetime
    completed_at: datetime
    revoked: bool = Field(description="audit confirmed it false: no longer counts")
    participants: list[Participant]


class ServiceRecordPage(BaseModel):
    records: list[ServiceRecord]
    next_cursor: str | None = Field(description="pass back as `since` for the next page")


# Claim evidence keeps the values exactly as signed (times as the ISO text the signature covers), so a
# partner can verify the signature over the `record` it received.
class EvidenceItem(BaseModel):
    category: str
    category_name: str
    item_id: str
    name: str | None


class EvidencePlace(BaseModel):
    district: str
    address: str | None
    position: PositionOut


class EvidencePeriod(BaseModel):
    starts_at: str
    ends_at: str
    completed_at: str | None


class EvidenceParties(BaseModel):
    elder_id: str
    volunteer_ids: list[str]
    institution_id: str | None


class AttendanceMark(BaseModel):
    at: str | None
    distance_m: int | None
    method: str | None
    by: str | None


class EvidenceAttendance(BaseModel):
    volunteer_id: str
    minutes: int | None
    check_in: AttendanceMark
    check_out: AttendanceMark


class EvidenceRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a field not modelled here would be dropped and break the signature

    record_id: str
    issued_at: str
    issuer: str
    item: EvidenceItem
    place: EvidencePlace
    period: EvidencePeriod
    parties: EvidenceParties
    attendance: list[EvidenceAttendance]
    revoked: bool


class EvidenceSignature(BaseModel):
    alg: Literal["Ed25519"]
    key_id: str
    value: str = Field(description="base64url, unpadded, over the record as canonical JSON (sorted keys, no spaces)")


class ClaimEvidence(BaseModel):
    record: EvidenceRecord
    signature: EvidenceSignature


@router.get(
    "/api/v1/requests/statistics",
    tags=["statistics"],
    response_model=RequestStatistics,
    summary="Per district: requests by category and state, hours served, ratings, requests left unbooked",
)
async def statistics(
    officer: Overseer,
    session: DbSession,
    district: Annotated[District | None, Query()] = None,
    from_: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    to: Annotated[AwareDatetime | None, Query()] = None,
) -> RequestStatistics:
    return RequestStatistics.model_validate(
        await records.district_statistics(session, officer, district=district, since=from_, until=to, now=clock.now())
    )


STATES = {
    "submitted": "已提交",
    "awaiting_review": "待审核",
    "open": "待预约",
    "booked": "已预约",
    "in_progress": "服务中",
    "completed": "已完成",
    "closed": "已关闭",
}
STATISTICS_COLUMNS = [
    exports.Column("district_name", "所在区"),
    exports.Column("category_name", "服务类别"),
    exports.Column("state_name", "状态"),
    exports.Column("requests", "需求数"),
]


@router.get(
    "/api/v1/requests/statistics/export",
    tags=["statistics"],
    response_class=Response,
    responses={**exports.RESPONSES, **problem_responses(403, 422)},
    summary="The same statistics (requests by district, category and state) as a CSV or XLSX file; audited",
)
async def export_statistics(
    officer: Overseer,
    session: DbSession,
    format: exports.Format = "xlsx",
    district: Annotated[District | None, Query()] = None,
    from_: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    to: Annotated[AwareDatetime | None, Query()] = None,
) -> Response:
    stats = await records.statistics_for_export(
        session, officer, district=district, since=from_, until=to, now=clock.now(), fmt=format
    )
    rows = [
        row
        | {
            "district_name": DISTRICTS.get(row["district"], row["district"]),
            "category_name": catalogue.CATEGORIES.get(row["category"], row["category"]),
            "state_name": STATES.get(row["state"], row["state"]),
        }
        for row in stats["by_category_and_state"]
    ]
    return exports.file(STATISTICS_COLUMNS, rows, format, "服务需求统计")


QUEUE_COLUMNS = [
    exports.Column("category_name", "服务类别"),
    exports.Column("district_name", "所在区"),
    exports.Column("state_name", "状态"),
    exports.Column("priority", "特殊老人优先"),
    exports.Column("starts_at", "开始时间"),
    exports.Column("ends_at", "结束时间"),
    exports.Column("estimated_minutes", "预计分钟"),
    exports.Column("volunteers_needed", "所需志愿者"),
    exports.Column("notes", "备注"),
    exports.Column("created_at", "提交时间"),
]


@router.get(
    "/api/v1/requests/queue/export",
    response_class=Response,
    responses={**exports.RESPONSES, **problem_responses(403, 422)},
    summary="The staff queue (the same state and district) as a CSV or XLSX file; the export is on the audit trail",
)
async def export_queue(
    officer: Reviewer,
    session: DbSession,
    format: exports.Format = "xlsx",
    state: Annotated[RequestState, Query()] = "awaiting_review",
    district: Annotated[District | None, Query()] = None,
) -> Response:
    found = await requests.queue_for_export(session, officer, district=district, state=state, fmt=format)
    rows = [
        dataclasses.asdict(r)
        | {
            "category_name": catalogue.CATEGORIES.get(r.category, r.category),
            "district_name": DISTRICTS.get(r.district, r.district),
            "state_name": STATES.get(r.state, r.state),
        }
        for r in found
    ]
    return exports.file(QUEUE_COLUMNS, rows, format, "服务需求队列")


@router.get(
    "/api/v1/volunteers/me/record",
    response_model=VolunteerRecord,
    summary="Your hours served, services, average rating and star level (星级)",
)
async def my_record(principal: PeopleAndStaff, session: DbSession) -> VolunteerRecord:
    me = person_of(principal)
    if me is None:
        raise Forbidden("仅限志愿者本人", "Volunteers only")
    return VolunteerRecord(**await records.volunteer_record(session, me))


@router.get(
    "/api/v1/volunteers/{person_id}/record",
    response_model=VolunteerRecord,
    summary="A volunteer's record (district officers, city admin, auditors)",
)
async def volunteer_record(person_id: uuid.UUID, officer: Overseer, session: DbSession) -> VolunteerRecord:
    return VolunteerRecord(**await records.volunteer_record(session, person_id))


@router.get(
    "/partner/v1/service-records",
    response_model=ServiceRecordPage,
    summary="Completed services for 志愿北京's unified volunteer record, "
    "oldest first; pass `next_cursor` back as `since` (or an ISO time to start from)",
)
async def service_records(
    partner: VolunteerBeijing,
    session: DbSession,
    since: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> ServiceRecordPage:
    return ServiceRecordPage.model_validate(await records.service_records(session, since=since, limit=limit))


@router.get(
    "/partner/v1/service-records/signing-keys",
    response_model=Jwks,
    summary="Public keys (JWKS) that verify claim evidence",
)
async def signing_keys(partner: VolunteerBeijing, request: Request) -> Jwks:
    return Jwks.model_validate(request.app.state.evidence_signer.jwks())


@router.get(
    "/partner/v1/service-records/{request_id}",
    response_model=ClaimEvidence,
    summary="Claim evidence for one service: item, place, period, parties, sign-in/out trail; Ed25519-signed",
)
async def claim_evidence(
    request_id: uuid.UUID, partner: VolunteerBeijing, session: DbSession, request: Request
) -> ClaimEvidence:
    return ClaimEvidence.model_validate(
        await records.claim_evidence(
            session,
            partner,
            request_id,
            cipher=cipher_of(request),
            signer=request.app.state.evidence_signer,
            now=clock.now(),
        )
    )
