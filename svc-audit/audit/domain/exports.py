"""Exports of audit's lists (fraud alerts) as files, each one on the audit trail like every other export."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from audit.domain import alerts
from contracts.audit import ListExported
from contracts.topics import Topic
from servicekit import exports
from servicekit.auth import Principal
from servicekit.events import build_event, record_event
from servicekit.pagination import PageRequest


async def alerts_for_export(
    session: AsyncSession,
    reader: Principal,
    *,
    status: str | None,
    rule: str | None,
    district: str | None,
    fmt: exports.Format,
) -> list[alerts.AlertView]:
    async def page(wanted: PageRequest) -> tuple[list, str | None]:
        return await alerts.list_alerts(session, reader, wanted, status=status, rule=rule, district=district)

    rows = await exports.every_row(alerts.ALERTS, page)
    filters = {"status": status, "rule": rule, "district": district}
    data = ListExported(**exports.facts(reader, alerts.ALERTS, fmt, filters, len(rows)))
    await record_event(
        session, topic=Topic.AUDIT, event=build_event(source="audit", data=data, subject=reader.id, actor=reader.id)
    )
    return rows


async def watchlist_for_export(session: AsyncSession, auditor: Principal, *, fmt: exports.Format) -> list[dict]:
    rows = await exports.every_row(alerts.WATCHLIST, lambda page: alerts.watchlist(session, page))
    data = ListExported(**exports.facts(auditor, alerts.WATCHLIST, fmt, {}, len(rows)))
    await record_event(
        session, topic=Topic.AUDIT, event=build_event(source="audit", data=data, subject=auditor.id, actor=auditor.id)
    )
    return rows
