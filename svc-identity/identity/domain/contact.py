"""A person's contact phone, for urgent notifications by SMS (a responder's alert) when WeChat cannot
deliver. Sealed like every piece of personal data; shown masked; read only by the notification sender.

A number counts only once its owner proves it: saving one sends a 6-digit code to it by SMS (valid
`phone_code_ttl_s`, resent at most every `phone_code_resend_s`, `phone_code_max_attempts` tries); until
the code is confirmed the number proven before (if any) stays in use — nobody can make the system text
a stranger by typing their number.

The operator who took a follow-up (回访) of an elder reads the elder's name and phone unmasked while it is open,
each read audited."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.identity import PersonalDataAccessed
from identity.db import messages as repo
from identity.db import repository
from identity.domain.publish import publish
from identity.pii import PersonalDataCipher, Sealed
from identity.settings import IdentitySettings
from identity.tencentcloud import SmsClient, SmsError
from servicekit import clock
from servicekit.auth import Principal
from servicekit.db import Database
from servicekit.errors import Forbidden, Problem, ServiceUnavailable, UnprocessableInput

MOBILE = re.compile(r"^1[3-9]\d{9}$")


def mask(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:]


class CodeRefused(UnprocessableInput):
    type = "phone-code-refused"
    title_zh, title_en = "验证码不正确或已失效", "The code is wrong or no longer valid"


class TooSoon(Problem):
    status, type = 429, "phone-code-too-soon"
    title_zh, title_en = "验证码发送过于频繁", "A code was sent moments ago"

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(
            f"请{retry_after_s}秒后再试", f"Try again after {retry_after_s} s", retry_after_s=retry_after_s
        )
        self.headers["Retry-After"] = str(retry_after_s)


def _digest(salt: bytes, code: str) -> bytes:
    return hashlib.sha256(salt + code.encode()).digest()


async def start_verification(
    session: AsyncSession,
    cipher: PersonalDataCipher,
    sms: SmsClient,
    person_id: uuid.UUID,
    phone: str,
    *,
    settings: IdentitySettings,
    now: datetime,
) -> str:
    """Keep the number as pending and text it a code; returns the number masked."""
    phone = phone.replace(" ", "").replace("-", "").removeprefix("+86")
    if not MOBILE.match(phone):
        raise UnprocessableInput("请填写11位中国大陆手机号", "A mainland China mobile number (11 digits) is required")
    pending = await repo.pending_phone(session, person_id, lock=True)
    if pending is not None and now < pending["sent_at"] + timedelta(seconds=settings.phone_code_resend_s):
        raise TooSoon(settings.phone_code_resend_s)
    code, salt = f"{secrets.randbelow(10**6):06d}", secrets.token_bytes(16)
    sealed = cipher.seal(phone, purpose="phone", owner=str(person_id))
    await repo.save_pending_phone(
        session,
        person_id,
        key_id=sealed.key_id,
        sealed=sealed.blob,
        masked=mask(phone),
        code_hash=_digest(salt, code),
        salt=salt,
        sent_at=now,
        expires_at=now + timedelta(seconds=settings.phone_code_ttl_s),
    )
    try:  # sent before the commit: if the provider refuses, nothing is kept and the caller may try again
        await sms.send(
            phone=phone,
            template="phone_verification",
            params={"code": code, "minutes": str(settings.phone_code_ttl_s // 60)},
        )
    except SmsError as exc:
        raise ServiceUnavailable("短信暂时无法发送，请稍后再试", "The SMS could not be sent; try again later") from exc
    return mask(phone)


async def confirm(
    db: Database, session: AsyncSession, person_id: uuid.UUID, code: str, *, settings: IdentitySettings, now: datetime
) -> str:
    """Prove the pending number with its code; it becomes the contact phone. Returns it masked."""
    # The try is counted in its own transaction, committed before the answer: a wrong code is refused (and
    # the request rolled back) but still spends one of the few tries, so codes cannot be guessed.
    async with db.transaction() as counting:
        pending = await repo.pending_phone(counting, person_id, lock=True)
        if pending is not None:
            await repo.count_attempt(counting, person_id)
    if pending is None or now >= pending["expires_at"] or pending["attempts"] >= settings.phone_code_max_attempts:
        raise CodeRefused("请重新获取验证码", "Ask for a new code")
    if not hmac.compare_digest(_digest(bytes(pending["salt"]), code.strip()), bytes(pending["code_hash"])):
        left = settings.phone_code_max_attempts - pending["attempts"] - 1
        raise CodeRefused(f"验证码不正确，还可尝试{left}次", f"Wrong code; {left} tries left", tries_left=left)
    await repo.save_phone(
        session, person_id, key_id=pending["key_id"], sealed=bytes(pending["sealed"]), masked=pending["masked"], now=now
    )
    await repo.drop_pending_phone(session, person_id)
    return pending["masked"]


async def masked_phone(session: AsyncSession, person_id: uuid.UUID) -> str | None:
    return await repo.masked_phone(session, person_id)


async def phone_for_sending(session: AsyncSession, cipher: PersonalDataCipher, person_id: uuid.UUID) -> str | None:
    stored = await repo.sealed_phone(session, person_id)
    return cipher.open(Sealed(*stored), purpose="phone", owner=str(person_id)) if stored else None


class NotYourFollowUp(Forbidden):
    type = "not-your-follow-up"
    title_zh, title_en = (
        "只有承接该回访的机构人员可以查看老人联系方式",
        "Only the operator who took the follow-up reads the elder's contact",
    )


@dataclass(frozen=True)
class Contact:
    person_id: uuid.UUID
    name: str | None
    phone: str | None


async def read_for_follow_up(
    session: AsyncSession,
    cipher: PersonalDataCipher,
    *,
    person_id: uuid.UUID,
    follow_up_id: uuid.UUID,
    reader: Principal,
) -> Contact:
    """The elder's name and phone, unmasked, for the operator who took the follow-up while it is open (matching
    tells identity who took it); every read is published as `personal-data.accessed`, with the read or not at all."""
    if not await repo.may_read_contact(session, follow_up_id, person_id, reader.id):
        raise NotYourFollowUp()
    owner = str(person_id)
    verified = await repository.real_name(session, person_id)
    name = (
        cipher.open(Sealed(verified.key_id, verified.name_encrypted), purpose="name", owner=owner) if verified else None
    )
    phone = await phone_for_sending(session, cipher, person_id)
    read = [field for field, value in (("name", name), ("phone", phone)) if value is not None]
    if read:
        await publish(
            session,
            PersonalDataAccessed(
                person_id=person_id,
                accessed_by=reader.id,
                accessor_roles=sorted(reader.roles),
                fields=read,
                purpose=f"回访 follow-up {follow_up_id}",
                accessed_at=clock.now(),
            ),
            subject=owner,
            actor=reader.id,
        )
    return Contact(person_id, name, phone)
