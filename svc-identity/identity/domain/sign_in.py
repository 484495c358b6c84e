"""Sign-in use cases: WeChat login (creating the person on first login), staff password, partner client."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.identity import PersonRegistered
from identity.db import repository
from identity.db.models import Person, WechatAccount
from identity.domain import institutions, refresh, roles
from identity.domain.keys import AccessClaims, IssuedToken, issue_access_token
from identity.domain.publish import publish
from identity.domain.refresh import TokenPair
from identity.passwords import verify_secret
from identity.settings import IdentitySettings
from identity.wechat import WechatSession
from servicekit import clock
from servicekit.db import Database
from servicekit.errors import Problem

BEIJING = ZoneInfo("Asia/Shanghai")


class InvalidGrant(Problem):
    status, type, title_zh, title_en = 400, "invalid-grant", "用户名或密码错误", "Invalid credentials"

    def __init__(self) -> None:
        super().__init__(error="invalid_grant")


class AccountLocked(Problem):
    status, type, title_zh, title_en = (
        400,
        "account-locked",
        "密码错误次数过多，账户已暂时锁定",
        "Too many wrong passwords; account temporarily locked",
    )

    def __init__(self, until: datetime) -> None:
        super().__init__(
            f"请于 {until.astimezone(BEIJING):%H:%M} 后再试",
            f"Try again after {until:%H:%M} UTC",
            error="invalid_grant",
            locked_until=until.isoformat(),
        )


class AccountSuspendedProblem(Problem):
    status, type, title_zh, title_en = 403, "account-suspended", "账户已被停用，请联系工作人员", "Account suspended"


class InvalidClient(Problem):
    status, type, title_zh, title_en = 401, "invalid-client", "客户端认证失败", "Client authentication failed"

    def __init__(self) -> None:
        super().__init__(error="invalid_client")


@dataclass(frozen=True)
class LoginResult:
    person_id: uuid.UUID
    created: bool
    tokens: TokenPair


async def register_person(session: AsyncSession, *, channel: str, registered_by: uuid.UUID | None = None) -> Person:
    person = Person(id=uuid.uuid4(), registered_via=channel)
    session.add(person)
    await session.flush()
    data = PersonRegistered(
        person_id=person.id, channel=channel, registered_at=clock.now(), registered_by=registered_by
    )
    await publish(session, data, subject=person.id, actor=str(registered_by or person.id))
    return person


async def wechat_login(session: AsyncSession, settings: IdentitySettings, wechat: WechatSession) -> LoginResult:
    await repository.lock_openid(session, wechat.openid)
    account = await repository.wechat_account(session, wechat.openid)
    created = account is None
    if account is not None:
        person = await repository.person(session, account.person_id)
        if person is not None and person.suspended_at is not None:
            raise AccountSuspendedProblem()
    if account is None:
        person = await register_person(session, channel="wechat")
        account = WechatAccount(openid=wechat.openid, person_id=person.id, unionid=wechat.unionid)
        session.add(account)
        await session.flush()
    claims = AccessClaims(
        subject=account.person_id, kind="person", roles=await roles.live_roles(session, account.person_id)
    )
    tokens = await refresh.issue_pair(session, settings, claims)
    return LoginResult(person_id=account.person_id, created=created, tokens=tokens)


async def staff_password_grant(
    session: AsyncSession, db: Database, settings: IdentitySettings, *, username: str, password: str
) -> TokenPair:
    staff = await repository.staff_by_username(session, username)
    if staff is not None and staff.locked_until is not None and staff.locked_until > clock.real_now():
        raise AccountLocked(staff.locked_until)  # checked before the password: a lock cannot be guessed past
    if not verify_secret(staff.password_hash if staff else None, password) or staff is None or staff.disabled:
        if staff is not None:
            # Its own transaction: this request's transaction rolls back with the refusal.
            async with db.transaction() as own:
                await repository.record_failed_sign_in(
                    own, staff.id, threshold=settings.lockout_threshold, lockout_minutes=settings.lockout_minutes
                )
        raise InvalidGrant()
    await institutions.check_operator_standing(session, staff)
    if staff.failed_sign_ins:
        await repository.clear_failed_sign_ins(session, staff.id)
    claims = AccessClaims(
        subject=staff.id,
        kind="staff",
        roles=tuple(staff.roles),
        district=staff.district,
        institution=staff.institution_id,
    )
    return await refresh.issue_pair(session, settings, claims)


async def client_credentials_grant(
    session: AsyncSession,
    settings: IdentitySettings,
    *,
    client_id: str,
    client_secret: str,
    requested_scopes: list[str],
) -> IssuedToken:
    client = await repository.partner_client(session, client_id)
    if not verify_secret(client.secret_hash if client else None, client_secret) or client is None or client.disabled:
        raise InvalidClient()
    granted = tuple(s for s in (requested_scopes or client.scopes) if s in client.scopes)
    if requested_scopes and len(granted) != len(set(requested_scopes)):
        raise Problem("请求的权限范围超出授权", "Requested scope exceeds the client's grant", error="invalid_scope")
    return await issue_access_token(
        session, settings, AccessClaims(subject=client.client_id, kind="partner", roles=("partner",), scopes=granted)
    )
