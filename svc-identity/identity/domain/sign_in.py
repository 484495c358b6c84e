"""Sign-in use cases: WeChat login (creating the person on first login), staff password, partner client."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.identity import PersonRegistered
from contracts.topics import Topic
from servicekit.errors import Problem
from servicekit.events import build_event, record_event
from identity.db import repository
from identity.db.models import Person, WechatAccount
from identity.domain.keys import AccessClaims, IssuedToken, issue_access_token
from identity.passwords import verify_secret
from identity.settings import IdentitySettings
from identity.wechat import WechatSession


class InvalidGrant(Problem):
    status, type, title_zh, title_en = 400, "invalid-grant", "用户名或密码错误", "Invalid credentials"

    def __init__(self) -> None:
        super().__init__(error="invalid_grant")


class InvalidClient(Problem):
    status, type, title_zh, title_en = 401, "invalid-client", "客户端认证失败", "Client authentication failed"

    def __init__(self) -> None:
        super().__init__(error="invalid_client")


@dataclass(frozen=True)
class LoginResult:
    person_id: uuid.UUID
    created: bool
    token: IssuedToken


async def register_person(session: AsyncSession, *, channel: str, registered_by: uuid.UUID | None = None) -> Person:
    person = Person(id=uuid.uuid4(), registered_via=channel)
    session.add(person)
    await session.flush()
    data = PersonRegistered(person_id=person.id, channel=channel, registered_at=datetime.now(UTC),
                            registered_by=registered_by)
    event = build_event(source="identity", data=data, subject=str(person.id),
                        actor=str(registered_by or person.id))
    await record_event(session, topic=Topic.IDENTITY, event=event)
    return person


async def wechat_login(session: AsyncSession, settings: IdentitySettings, wechat: WechatSession) -> LoginResult:
    await repository.lock_openid(session, wechat.openid)
    account = await repository.wechat_account(session, wechat.openid)
    created = account is None
    if account is None:
        person = await register_person(session, channel="wechat")
        account = WechatAccount(openid=wechat.openid, person_id=person.id, unionid=wechat.unionid)
        session.add(account)
        await session.flush()
    token = await issue_access_token(session, settings, AccessClaims(subject=account.person_id, kind="person"))
    return LoginResult(person_id=account.person_id, created=created, token=token)


async def staff_password_grant(session: AsyncSession, settings: IdentitySettings, *, username: str,
                               password: str) -> IssuedToken:
    staff = await repository.staff_by_username(session, username)
    if not verify_secret(staff.password_hash if staff else None, password) or staff is None or staff.disabled:
        raise InvalidGrant()
    claims = AccessClaims(subject=staff.id, kind="staff", roles=tuple(staff.roles), district=staff.district)
    return await issue_access_token(session, settings, claims)


async def client_credentials_grant(session: AsyncSession, settings: IdentitySettings, *, client_id: str,
                                   client_secret: str, requested_scopes: list[str]) -> IssuedToken:
    client = await repository.partner_client(session, client_id)
    if not verify_secret(client.secret_hash if client else None, client_secret) or client is None or client.disabled:
        raise InvalidClient()
    granted = tuple(s for s in (requested_scopes or client.scopes) if s in client.scopes)
    if requested_scopes and len(granted) != len(set(requested_scopes)):
        raise Problem("请求的权限范围超出授权", "Requested scope exceeds the client's grant", error="invalid_scope")
    return await issue_access_token(session, settings, AccessClaims(subject=client.client_id, kind="partner",
                                                                    roles=("partner",), scopes=granted))
