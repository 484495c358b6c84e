from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response

from audit.api.alerts import RULES
from audit.domain import exports as exported
from contracts.districts import DISTRICTS, District
from servicekit import exports
from servicekit.auth import Principal, require_roles
from servicekit.deps import DbSession
from servicekit.openapi import problem_responses

router = APIRouter(tags=["alerts"])
Overseer = Annotated[Principal, Depends(require_roles("auditor", "city_admin", "district_officer"))]
SEVERITY = {"high": "高", "medium": "中", "low": "低"}
RULE_NAMES = {
    "overlapping_services": "服务时间重叠",
    "two_way_service": "互相服务",
    "late_night_service": "深夜服务",
    "far_from_place": "签到位置偏离",
    "implausible_duration": "服务时长异常",
    "frequent_gifting": "频繁赠予",
    "gift_chain": "赠予链",
}
STATUS = {"open": "待处理", "confirmed": "已确认", "dismissed": "已排除"}
COLUMNS = [
    exports.Column("severity", "级别"),
    exports.Column("rule", "规则"),
    exports.Column("summary", "摘要"),
    exports.Column("district", "所在区"),
    exports.Column("status", "状态"),
    exports.Column("first_at", "首次发生"),
    exports.Column("last_at", "最近发生"),
    exports.Column("people", "涉及人员"),
    exports.Column("request_ids", "服务记录"),
]


@router.get(
    "/api/v1/alerts/export",
    response_class=Response,
    responses={**exports.RESPONSES, **problem_responses(403, 422)},
    summary="Fraud alerts (the same filters) as a CSV or XLSX file; the export is on the audit trail",
)
async def export_alerts(
    reader: Overseer,
    session: DbSession,
    format: exports.Format = "xlsx",
    status: Annotated[Literal["open", "confirmed", "dismissed"] | None, Query()] = None,
    rule: Annotated[RULES | None, Query()] = None,
    district: Annotated[District | None, Query()] = None,
) -> Response:
    found = await exported.alerts_for_export(session, reader, status=status, rule=rule, district=district, fmt=format)
    rows = [
        vars(a)
        | {
            "severity": SEVERITY[a.severity],
            "rule": RULE_NAMES.get(a.rule, a.rule),
            "status": STATUS[a.status],
            "district": DISTRICTS.get(a.district or "", a.district),
        }
        for a in found
    ]
    return exports.file(COLUMNS, rows, format, "预警清单")


Auditor = Annotated[Principal, Depends(require_roles("auditor"))]
WATCHED = [
    exports.Column("subject_kind", "对象类型"),
    exports.Column("subject_id", "对象编号"),
    exports.Column("district", "所在区"),
    exports.Column("since", "跟踪开始"),
    exports.Column("reasons", "原因"),
]


@router.get(
    "/api/v1/watchlist/export",
    response_class=Response,
    responses={**exports.RESPONSES, **problem_responses(403, 422)},
    summary="The watchlist (跟踪名单) as a CSV or XLSX file; the export is on the audit trail",
)
async def export_watchlist(auditor: Auditor, session: DbSession, format: exports.Format = "xlsx") -> Response:
    found = await exported.watchlist_for_export(session, auditor, fmt=format)
    rows = [
        w
        | {
            "subject_kind": "人员" if w["subject_kind"] == "person" else "机构",
            "district": DISTRICTS.get(w["district"] or "", w["district"]),
            "reasons": [f"{RULE_NAMES.get(a['rule'], a['rule'])}：{a['reason']}" for a in w["alerts"]],
        }
        for w in found
    ]
    return exports.file(WATCHED, rows, format, "跟踪名单")
