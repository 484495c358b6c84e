"""Browsing the registry (staff): what each keeper sees — the city admin every device, a district officer their
district's, owner staff their organisations' — filtered as asked."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from aed.db import registry as repo
from contracts.aed import ListExported
from contracts.topics import Topic
from servicekit import exports
from servicekit.auth import Principal
from servicekit.errors import Forbidden
from servicekit.events import build_event, record_event
from servicekit.pagination import PageRequest, page_of

LIST = "aed-registry"


async def browse(
    session: AsyncSession,
    who: Principal,
    page: PageRequest,
    *,
    district: str | None,
    status: str | None,
    expiring_within_days: int | None,
    today: date,
) -> tuple[list[dict], str | None]:
    organisations = None  # the city admin: any owner, any district (or the one asked for)
    if not who.has_role("city_admin") and who.has_role("district_officer"):
        if district is not None and district != who.district:
            raise Forbidden("只能查看本区的设备", "Officers see their own district's devices")
        district = who.district
    elif not who.has_role("city_admin"):  # owner staff: their organisations' devices, wherever they are
        organisations = await repo.organisations_of(session, who.id)
    expiring_by = today + timedelta(days=expiring_within_days) if expiring_within_days is not None else None
    rows = await repo.devices(
        session, page, district=district, organisations=organisations, status=status, expiring_by=expiring_by
    )
    return page_of(LIST, rows, page, at="created_at")


async def export(
    session: AsyncSession,
    who: Principal,
    *,
    district: str | None,
    status: str | None,
    expiring_within_days: int | None,
    today: date,
    fmt: exports.Format,
) -> list[dict]:
    """Every device the same browse shows, for a file; the export is recorded on the audit trail."""

    async def page(wanted: PageRequest) -> tuple[list, str | None]:
        return await browse(
            session,
            who,
            wanted,
            district=district,
            status=status,
            expiring_within_days=expiring_within_days,
            today=today,
        )

    rows = await exports.every_row(LIST, page)
    filters = {"district": district, "status": status, "expiring_within_days": expiring_within_days}
    await record_export(session, who, LIST, fmt, filters, len(rows))
    return rows


async def record_export(
    session: AsyncSession, who: Principal, list_name: str, fmt: exports.Format, filters: dict, rows: int
) -> None:
    """Who exported which of svc-aed's lists, with which filters and how many rows: on the audit trail."""
    data = ListExported(**exports.facts(who, list_name, fmt, filters, rows))
    await record_event(
        session, topic=Topic.AED, event=build_event(source="aed", data=data, subject=who.id, actor=who.id)
    )
