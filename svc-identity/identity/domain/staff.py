"""Operator use cases: staff users and partner clients, and the documented demo set for the dev stack."""

from __future__ import annotations

import secrets
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.districts import DISTRICTS
from identity.db import repository
from identity.db.models import Institution, PartnerClient, StaffUser
from identity.passwords import hash_secret
from servicekit import clock
from servicekit.errors import Conflict, UnprocessableInput

STAFF_ROLES = {"city_admin", "auditor", "district_officer", "institution_operator", "aed_owner"}
PARTNER_SCOPES = {"volunteer-beijing", "emergency-120"}


async def create_staff(
    session: AsyncSession,
    *,
    username: str,
    password: str,
    display_name: str,
    roles: list[str],
    district: str | None,
    created_by: str,
    institution_id: uuid.UUID | None = None,
) -> StaffUser:
    """Institution operators belong to a registered institution and take its district."""
    unknown = set(roles) - STAFF_ROLES
    if not roles or unknown:
        raise UnprocessableInput(f"未知角色: {sorted(unknown)}", f"Unknown roles: {sorted(unknown)}")
    if "institution_operator" in roles:
        institution = await session.get(Institution, institution_id) if institution_id else None
        if institution is None:
            raise UnprocessableInput(
                "机构人员必须属于已登记并经街道/乡镇确认的机构",
                "An institution operator needs a registered, confirmed institution",
            )
        district = institution.district
    if "district_officer" in roles and district not in DISTRICTS:
        raise UnprocessableInput(
            "区民政人员必须属于北京16区之一", "A district officer needs one of the 16 district codes"
        )
    if district is not None and district not in DISTRICTS:
        raise UnprocessableInput("未知区划代码", "Unknown district code")
    if len(password) < 12:
        raise UnprocessableInput("密码至少12位", "Passwords need at least 12 characters")
    if await repository.staff_by_username(session, username):
        raise Conflict("用户名已存在", "Username already exists")
    staff = StaffUser(
        username=username,
        password_hash=hash_secret(password),
        display_name=display_name,
        roles=sorted(roles),
        district=district,
        created_by=created_by,
        institution_id=institution_id if "institution_operator" in roles else None,
    )
    session.add(staff)
    await session.flush()
    return staff


async def create_partner_client(
    session: AsyncSession, *, client_id: str, name: str, scopes: list[str], created_by: str, secret: str | None = None
) -> tuple[PartnerClient, str]:
    unknown = set(scopes) - PARTNER_SCOPES
    if not scopes or unknown:
        raise UnprocessableInput(f"未知权限范围: {sorted(unknown)}", f"Unknown scopes: {sorted(unknown)}")
    if await repository.partner_client(session, client_id):
        raise Conflict("客户端已存在", "Client already exists")
    secret = secret or secrets.token_urlsafe(32)
    client = PartnerClient(
        client_id=client_id, name=name, secret_hash=hash_secret(secret), scopes=sorted(scopes), created_by=created_by
    )
    session.add(client)
    await session.flush()
    return client, secret


DEMO_PASSWORD = "demo-password-2026"
DEMO_PARTNER_SECRET = "demo-partner-secret-2026"


def demo_staff() -> list[dict]:
    """The dev stack's documented demo accounts (README: "Demo accounts"). Never seed these in production."""
    people: list[dict] = [
        {"username": "admin", "display_name": "市民政局管理员", "roles": ["city_admin"], "district": None},
        {"username": "auditor", "display_name": "审计员", "roles": ["auditor"], "district": None},
        {
            "username": "institution",
            "display_name": "朝阳区养老服务机构",
            "roles": ["institution_operator"],
            "district": "110105",
        },
        # keeps the AED kiosks of the schools svc-aed assigns to this account
        {"username": "school", "display_name": "海淀区学校设备管理员", "roles": ["aed_owner"], "district": "110108"},
    ]
    people += [
        {
            "username": f"officer-{code}",
            "display_name": f"{name}区民政",
            "roles": ["district_officer"],
            "district": code,
        }
        for code, name in DISTRICTS.items()
    ]
    return people


DEMO_INSTITUTION_ID = uuid.UUID("00000000-0000-4000-8000-000000000105")


async def seed_demo(session: AsyncSession) -> list[str]:
    created = []
    if await session.get(Institution, DEMO_INSTITUTION_ID) is None:
        session.add(
            Institution(
                id=DEMO_INSTITUTION_ID,
                name="朝阳区示范养老服务驿站",
                district="110105",
                subdistrict="朝外街道",
                confirmation_ref="朝外街道-确认-2026-001",
                confirmed_by="seed-demo",
                confirmed_at=clock.now(),
            )
        )
        await session.flush()
    for person in demo_staff():
        if await repository.staff_by_username(session, person["username"]) is None:
            institution = DEMO_INSTITUTION_ID if "institution_operator" in person["roles"] else None
            await create_staff(
                session, password=DEMO_PASSWORD, created_by="seed-demo", institution_id=institution, **person
            )
            created.append(person["username"])
    for client_id, name, scopes in (
        ("volunteer-beijing", "志愿北京", ["volunteer-beijing"]),
        ("emergency-120", "北京120急救指挥中心", ["emergency-120"]),
    ):
        if await repository.partner_client(session, client_id) is None:
            await create_partner_client(
                session,
                client_id=client_id,
                name=name,
                scopes=scopes,
                created_by="seed-demo",
                secret=DEMO_PARTNER_SECRET,
            )
            created.append(client_id)
    return created


async def display_name(session: AsyncSession, staff_id: str) -> str | None:
    try:
        found = await repository.staff(session, uuid.UUID(staff_id))
    except ValueError:
        return None
    return found.display_name if found else None
