"""A person's contact phone, for urgent notifications by SMS (a responder's alert) when WeChat cannot
deliver. Sealed like every piece of personal data; shown masked; read only by the notification sender."""
from __future__ import annotations

import re
import uuid
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.errors import UnprocessableInput
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
    await session.execute(text(
        "INSERT INTO contact_phones VALUES (:p, :k, :s, :m, :now) ON CONFLICT (person_id) DO UPDATE"
        " SET key_id = :k, sealed = :s, masked = :m, updated_at = :now"),
        {"p": person_id, "k": sealed.key_id, "s": sealed.blob, "m": mask(phone), "now": now})
    return mask(phone)


async def masked_phone(session: AsyncSession, person_id: uuid.UUID) -> str | None:
    return (await session.execute(text("SELECT masked FROM contact_phones WHERE person_id = :p"), {"p": person_id})).scalar()


async def phone_for_sending(session: AsyncSession, cipher: PersonalDataCipher, person_id: uuid.UUID) -> str | None:
    row = (await session.execute(text("SELECT key_id, sealed FROM contact_phones WHERE person_id = :p"),
                                 {"p": person_id})).first()
    return cipher.open(Sealed(row.key_id, bytes(row.sealed)), purpose="phone", owner=str(person_id)) if row else None
