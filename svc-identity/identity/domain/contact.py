"""A person's contact phone, for urgent notifications by SMS (a responder's alert) when WeChat cannot
deliver. Sealed like every piece of personal data; shown masked; read only by the notification sender."""
from __future__ import annotations

import re
import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.errors import UnprocessableInput
from identity.db import messages as repo
from identity.pii import PersonalDataCipher, Sealed

MOBILE = re.compile(r"^1[3-9]\d{9}$")


def mask(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:]


async def set_phone(session: AsyncSession, cipher: PersonalDataCipher, person_id: uuid.UUID, phone: str,
                    now: datetime) -> str:
    phone = phone.replace(" ", "").replace("-", "").removeprefix("+86")
    if not MOBILE.match(phone):
        raise UnprocessableInput("请填写11位中国大陆手机号", "A mainland China mobile number (11 digits) is required")
    sealed = cipher.seal(phone, purpose="phone", owner=str(person_id))
    await repo.save_phone(session, person_id, key_id=sealed.key_id, sealed=sealed.blob, masked=mask(phone), now=now)
    return mask(phone)


async def masked_phone(session: AsyncSession, person_id: uuid.UUID) -> str | None:
    return await repo.masked_phone(session, person_id)


async def phone_for_sending(session: AsyncSession, cipher: PersonalDataCipher, person_id: uuid.UUID) -> str | None:
    stored = await repo.sealed_phone(session, person_id)
    return cipher.open(Sealed(*stored), purpose="phone", owner=str(person_id)) if stored else None
