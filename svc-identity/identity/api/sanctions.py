from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field

from identity.api.deps import Session
from identity.domain import sanctions
from servicekit import exports
from servicekit.auth import Principal, require_roles
from servicekit.openapi import problem_responses
from servicekit.pagination import Page, PageParams

router = APIRouter(tags=["sanctions"])
Staff = Annotated[
    Principal, Depends(require_roles("auditor", "city_admin", "district_officer", "institution_operator"))
]
Auditor = Annotated[Principal, Depends(require_roles("auditor"))]


class SanctionResponse(BaseModel):
    id: uuid.UUID
    kind: str = Field(description="volunteer_recording_revoked (取消记录资格) or institution_listed (失信名单)")
    person_id: uuid.UUID | None
    institution_id: uuid.UUID | None
    decided_by: str
    note: str
    applied_at: datetime
    lifted_at: datetime | None
    lifted_by: str | None
    lift_reason: str | None


class LiftRequest(BaseModel):
    reason: str = Field(min_length=4, max_length=500)


@router.get(
    "/api/v1/sanctions",
    response_model=Page[SanctionResponse],
    summary="Sanctions in force or lifted: volunteers without recording rights, institutions on 失信名单; "
    "newest first (cursor pages)",
)
async def list_sanctions(
    staff: Staff,
    session: Session,
    page: PageParams,
    person_id: uuid.UUID | None = None,
    institution_id: uuid.UUID | None = None,
    live: bool = False,
) -> Page[SanctionResponse]:
    shown, cursor = await sanctions.listed(
        session, page.for_list(sanctions.SANCTIONS), person_id=person_id, institution_id=institution_id, live_only=live
    )
    return Page[SanctionResponse](
        items=[SanctionResponse.model_validate(r, from_attributes=True) for r in shown], next_cursor=cursor
    )


KINDS = {"volunteer_recording_revoked": "取消服务记录资格", "institution_listed": "列入失信名单"}
EXPORTED = [
    exports.Column("kind_name", "处罚"),
    exports.Column("person_id", "人员编号"),
    exports.Column("institution_id", "机构编号"),
    exports.Column("note", "说明"),
    exports.Column("decided_by", "决定人"),
    exports.Column("applied_at", "生效时间"),
    exports.Column("lifted_at", "撤销时间"),
    exports.Column("lift_reason", "撤销理由"),
]


@router.get(
    "/api/v1/sanctions/export",
    response_class=Response,
    responses={**exports.RESPONSES, **problem_responses(403, 422)},
    summary="Sanctions (in force, or all) as a CSV or XLSX file; the export is on the audit trail",
)
async def export_sanctions(
    staff: Staff, session: Session, format: exports.Format = "xlsx", live: bool = False
) -> Response:
    found = await sanctions.export(session, staff, live_only=live, fmt=format)
    rows = [
        SanctionResponse.model_validate(r, from_attributes=True).model_dump() | {"kind_name": KINDS.get(r.kind, r.kind)}
        for r in found
    ]
    return exports.file(EXPORTED, rows, format, "处罚清单")


@router.post(
    "/api/v1/sanctions/{sanction_id}/lift",
    response_model=SanctionResponse,
    summary="Lift a sanction (auditors, with a reason)",
)
async def lift(sanction_id: uuid.UUID, body: LiftRequest, auditor: Auditor, session: Session) -> SanctionResponse:
    record = await sanctions.lift_sanction(session, sanction_id=sanction_id, auditor=auditor, reason=body.reason)
    return SanctionResponse.model_validate(record, from_attributes=True)
