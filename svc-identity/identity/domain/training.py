"""Training records: institutions record completed volunteer or first-aid training (the latter with a
certificate and its expiry), which may make the person a volunteer or a responder."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from identity.db import repository
from identity.db.models import Training
from identity.domain import roles
from servicekit import clock
from servicekit.errors import NotFound, UnprocessableInput


async def record_training(
    session: AsyncSession,
    *,
    person_id: uuid.UUID,
    kind: str,
    completed_on: date,
    certificate_number: str | None,
    certificate_expires_on: date | None,
    recorded_by: str,
    today: date,
) -> tuple[Training, list[str]]:
    if await repository.person(session, person_id) is None:
        raise NotFound("用户不存在", "No such person")
    if completed_on > today:
        raise UnprocessableInput(
            "培训完成日期不能晚于今天", "Training cannot be completed in the future", field="completed_on"
        )
    if kind == "first_aid" and (certificate_expires_on is None or certificate_expires_on <= completed_on):
        raise UnprocessableInput(
            "急救培训须填写晚于完成日期的证书有效期",
            "First-aid training needs a certificate expiry after the completion date",
            field="certificate_expires_on",
        )
    training = Training(
        person_id=person_id,
        kind=kind,
        completed_on=completed_on,
        certificate_number=certificate_number,
        certificate_expires_on=certificate_expires_on if kind == "first_aid" else None,
        recorded_by=recorded_by,
        recorded_at=clock.now(),
    )
    session.add(training)
    await session.flush()
    live = await roles.refresh_roles(session, person_id, actor=recorded_by)
    return training, live
