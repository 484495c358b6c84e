"""Volunteers' records (hours, services, rating, star level), 志愿北京's feed of completed services and the
signed claim evidence for one service, and district statistics.

Star ladder (星级志愿者), by cumulative hours of recorded service — the thresholds of the national
volunteer-record practice (一星 100 h, 二星 300 h, 三星 600 h, 四星 1,000 h, 五星 1,500 h).
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.matching import ListExported
from matching.db import records as repo
from matching.db import requests as requests_repo
from matching.domain import access, catalogue
from matching.domain.errors import OutsideDistrict, RequestNotFound
from matching.domain.publish import publish
from matching.domain.requests import open_address
from servicekit import exports
from servicekit.auth import Principal
from servicekit.errors import UnprocessableInput
from servicekit.pii import PersonalDataCipher

STAR_LADDER_HOURS = [(5, 1500), (4, 1000), (3, 600), (2, 300), (1, 100)]


def star_level(minutes: int) -> int:
    hours = minutes / 60
    return next((stars for stars, threshold in STAR_LADDER_HOURS if hours >= threshold), 0)


def next_star(minutes: int) -> dict | None:
    hours = minutes / 60
    upcoming = [(s, t) for s, t in reversed(STAR_LADDER_HOURS) if hours < t]
    return {"stars": upcoming[0][0], "at_hours": upcoming[0][1]} if upcoming else None


async def volunteer_record(session: AsyncSession, volunteer_id: uuid.UUID) -> dict:
    totals = await repo.volunteer_totals(session, volunteer_id)
    minutes = int(totals["minutes"])
    average = totals["average_rating"]
    return {
        "volunteer_id": volunteer_id,
        "services": totals["services"],
        "minutes_served": minutes,
        "hours_served": round(minutes / 60, 2),
        "average_rating": round(float(average), 2) if average else None,
        "ratings": totals["ratings"],
        "star_level": star_level(minutes),
        "next_star": next_star(minutes),
        "no_shows": totals["no_shows"],
        "late_cancellations": totals["late_cancellations"],
        "revoked_records": totals["revoked"],
    }


# --- 志愿北京 -------------------------------------------------------------------------------------------


def encode_cursor(completed_at: datetime, request_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{completed_at.isoformat()}|{request_id}".encode()).decode().rstrip("=")


def decode_since(since: str | None) -> tuple[datetime, uuid.UUID] | None:
    """`since` is a cursor from a previous page, or an ISO 8601 time (everything completed after it)."""
    if not since:
        return None
    try:
        at = datetime.fromisoformat(since)
        if at.tzinfo is None:
            raise ValueError
        return at, uuid.UUID(int=(1 << 128) - 1)  # after every record completed exactly at that time
    except ValueError:
        pass
    try:
        raw = base64.urlsafe_b64decode(since + "=" * (-len(since) % 4)).decode()
        at_text, id_text = raw.split("|")
        return datetime.fromisoformat(at_text), uuid.UUID(id_text)
    except Exception:
        raise UnprocessableInput(
            "since 须为上一页的游标或带时区的时间", "since is a cursor or an ISO 8601 time with offset"
        ) from None


async def service_records(session: AsyncSession, *, since: str | None, limit: int) -> dict:
    rows = await repo.completed_since(session, after=decode_since(since), limit=limit)
    records = [
        {
            "record_id": r["id"],
            "district": r["district"],
            "category": r["category"],
            "category_name": catalogue.CATEGORIES[r["category"]],
            "item_id": r["item_id"],
            "item_name": r["item_name"],
            "starts_at": r["starts_at"],
            "ends_at": r["ends_at"],
            "completed_at": r["completed_at"],
            "revoked": r["revoked"],
            "participants": [
                {"volunteer_id": p["volunteer_id"], "minutes": 0 if r["revoked"] else p["minutes"]}
                for p in (json.loads(r["participants"]) if isinstance(r["participants"], str) else r["participants"])
            ],
        }
        for r in rows
    ]
    cursor = encode_cursor(rows[-1]["completed_at"], rows[-1]["id"]) if rows else since
    return {"records": records, "next_cursor": cursor}


def canonical(document: dict[str, Any]) -> bytes:
    """The bytes signed: JSON with sorted keys, no whitespace, UTF-8 (RFC 8785 for the values used here)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


class EvidenceSigner:
    def __init__(self, seed_b64: str, key_id: str) -> None:
        self._key = Ed25519PrivateKey.from_private_bytes(base64.urlsafe_b64decode(seed_b64))
        self.key_id = key_id

    def sign(self, document: dict[str, Any]) -> dict[str, str]:
        signature = self._key.sign(canonical(document))
        return {
            "alg": "Ed25519",
            "key_id": self.key_id,
            "value": base64.urlsafe_b64encode(signature).decode().rstrip("="),
        }

    def jwks(self) -> dict:
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        raw = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return {
            "keys": [
                {
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "kid": self.key_id,
                    "use": "sig",
                    "alg": "EdDSA",
                    "x": base64.urlsafe_b64encode(raw).decode().rstrip("="),
                }
            ]
        }


async def claim_evidence(
    session: AsyncSession,
    partner: Principal,
    request_id: uuid.UUID,
    *,
    cipher: PersonalDataCipher,
    signer: EvidenceSigner,
    now: datetime,
) -> dict:
    """What 志愿北京's insurance process needs to accept a claim: item, place, period, parties and the
    sign-in/out trail, signed so the partner can show it was not altered."""
    request = await requests_repo.get(session, request_id)
    if request is None or request.state != "completed":
        raise RequestNotFound("没有该项已完成的服务记录", "No completed service with that id")
    item = await catalogue.item(session, request.item_id)
    served = [b for b in await requests_repo.bookings(session, request.id) if b.status == "checked_out"]
    record = {
        "record_id": str(request.id),
        "issued_at": now.isoformat(),
        "issuer": "北京市养老服务时间银行",
        "item": {
            "category": request.category,
            "category_name": catalogue.CATEGORIES[request.category],
            "item_id": str(request.item_id),
            "name": item.name if item else None,
        },
        "place": {
            "district": request.district,
            "address": open_address(cipher, request),
            "position": {"lat": request.lat, "lon": request.lon, "coord_system": "wgs84"},
        },
        "period": {
            "starts_at": request.starts_at.isoformat(),
            "ends_at": request.ends_at.isoformat(),
            "completed_at": request.completed_at.isoformat() if request.completed_at else None,
        },
        "parties": {
            "elder_id": str(request.elder_id),
            "volunteer_ids": [str(b.volunteer_id) for b in served],
            "institution_id": str(request.institution_id) if request.institution_id else None,
        },
        "attendance": [
            {
                "volunteer_id": str(b.volunteer_id),
                "minutes": b.minutes,
                "check_in": {
                    "at": b.checked_in_at.isoformat() if b.checked_in_at else None,
                    "distance_m": b.check_in_distance_m,
                    "method": b.check_in_method,
                    "by": b.check_in_by,
                },
                "check_out": {
                    "at": b.checked_out_at.isoformat() if b.checked_out_at else None,
                    "distance_m": b.check_out_distance_m,
                    "method": b.check_out_method,
                    "by": b.check_out_by,
                },
            }
            for b in served
        ],
        "revoked": request.false_record_sanction is not None,
    }
    await access.address_revealed(session, partner, request, purpose="志愿北京 insurance claim evidence", now=now)
    return {"record": record, "signature": signer.sign(record)}


def district_scope(principal: Principal, district: str | None) -> str | None:
    if principal.has_role("city_admin", "auditor"):
        return district
    if not principal.has_role("district_officer") or principal.district is None:
        raise OutsideDistrict("仅限区民政查看本区统计", "District officers see their own district's statistics")
    if district is not None and district != principal.district:
        raise OutsideDistrict()
    return principal.district


async def statistics_for_export(
    session: AsyncSession,
    reader: Principal,
    *,
    district: str | None,
    since: datetime | None,
    until: datetime | None,
    now: datetime,
    fmt: exports.Format,
) -> dict:
    """The same statistics, for a file: the export is recorded (`list.exported`) in this transaction."""
    stats = await district_statistics(session, reader, district=district, since=since, until=until, now=now)
    filters = {"district": stats["district"], "from": stats["from"].isoformat(), "to": stats["to"].isoformat()}
    rows = len(stats["by_category_and_state"])
    await publish(
        session,
        ListExported(**exports.facts(reader, "request-statistics", fmt, filters, rows)),
        subject=reader.id,
        actor=reader.id,
    )
    return stats


async def district_statistics(
    session: AsyncSession,
    reader: Principal,
    *,
    district: str | None,
    since: datetime | None,
    until: datetime | None,
    now: datetime,
) -> dict:
    """Requests by category and state, minutes served, ratings and requests left unbooked, for requests
    created in the period (default: the last 30 days), in the reader's district."""
    scope = district_scope(reader, district)
    since, until = since or now - timedelta(days=30), until or now + timedelta(days=366)
    stats = await repo.statistics(session, district=scope, since=since, until=until, now=now)
    average = stats.pop("average_rating")
    return {
        "district": scope,
        "from": since,
        "to": until,
        **stats,
        "average_rating": round(float(average), 2) if average is not None else None,
    }
