"""The coins as the offices oversee them: issuance by district, the welfare account, the milestone list. Officers
see their own district; the city admin and auditors every district."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.ledger import ListExported
from ledger.db import overview as repo
from ledger.db import repository
from ledger.db.repository import ORIGINS
from ledger.domain.accounts import scope_district
from ledger.domain.publish import publish
from servicekit import exports
from servicekit.auth import Principal
from servicekit.pagination import PageRequest, page_of

MILESTONES = "milestones"  # the list's name in its cursors
COIN_SUMMARY = "coin-summary"  # issuance and liability by district, on the audit trail


@dataclass(frozen=True)
class Issuance:
    by_district: dict[str, int]
    welfare_balance: int | None  # the city's account: not an officer's to see


async def issuance(session: AsyncSession, reader: Principal, district: str | None) -> Issuance:
    district = scope_district(reader, district)
    issued = {row.district: int(row.issued) for row in await repo.issued(session, district)}
    city = reader.has_role("city_admin", "auditor")
    return Issuance(issued, await repo.welfare_balance(session) if city else None)


async def milestones(
    session: AsyncSession, reader: Principal, district: str | None, page: PageRequest
) -> tuple[list[dict], str | None]:
    rows = await repo.milestones(session, scope_district(reader, district), page)
    return page_of(MILESTONES, rows, page, at="milestone_reached_at", id="person_id")


async def milestones_for_export(
    session: AsyncSession, reader: Principal, district: str | None, fmt: exports.Format
) -> list[dict]:
    rows = await exports.every_row(MILESTONES, lambda page: milestones(session, reader, district, page))
    data = ListExported(**exports.facts(reader, MILESTONES, fmt, {"district": district}, len(rows)))
    await publish(session, data, subject=reader.id, actor=reader.id)
    return rows


@dataclass(frozen=True)
class DistrictCoins:
    district: str
    issued: int  # minutes its office granted, in all
    outstanding: dict[str, int]  # minutes its residents hold, by origin

    def by_origin(self) -> dict[str, int]:
        """Minutes outstanding for every origin, none left out."""
        return {origin: self.outstanding.get(origin, 0) for origin in ORIGINS}


async def summary_for_export(
    session: AsyncSession, reader: Principal, district: str | None, fmt: exports.Format
) -> list[DistrictCoins]:
    """Per district, what its office granted and what its residents still hold by origin (the redemption
    liability), for a file; the export is recorded on the audit trail like every list's."""
    scope = scope_district(reader, district)
    issued = {row.district: int(row.issued) for row in await repo.issued(session, scope)}
    held: dict[str, dict[str, int]] = {}
    for row in await repository.liability(session, scope):
        held.setdefault(row.district, {})[row.origin] = int(row.outstanding)
    rows = [DistrictCoins(d, issued.get(d, 0), held.get(d, {})) for d in sorted(issued.keys() | held.keys())]
    data = ListExported(**exports.facts(reader, COIN_SUMMARY, fmt, {"district": district}, len(rows)))
    await publish(session, data, subject=reader.id, actor=reader.id)
    return rows
