"""Every identity query lives here."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from identity.db.models import (
    AccountClosure,
    Guardianship,
    Institution,
    KinshipLink,
    PartnerClient,
    Person,
    Qualification,
    RealName,
    RefreshToken,
    RoleGrant,
    Sanction,
    SigningKey,
    SpecialGroupChange,
    StaffUser,
    Training,
    WechatAccount,
)
from servicekit.pagination import PageRequest, keyset


async def lock_openid(session: AsyncSession, openid: str) -> None:
    """Serialise concurrent first logins of one WeChat user for the rest of the transaction."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": "wechat:" + openid})


async def wechat_account(session: AsyncSession, openid: str) -> WechatAccount | None:
    return await session.get(WechatAccount, openid)


async def person(session: AsyncSession, person_id, *, lock: bool = False) -> Person | None:
    return await session.get(Person, person_id, with_for_update=True if lock else None)


async def latest_special_group_change(session: AsyncSession, person_id) -> SpecialGroupChange | None:
    query = (
        select(SpecialGroupChange)
        .where(SpecialGroupChange.person_id == person_id)
        .order_by(SpecialGroupChange.set_at.desc())
        .limit(1)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def staff_by_username(session: AsyncSession, username: str) -> StaffUser | None:
    return (await session.execute(select(StaffUser).where(StaffUser.username == username))).scalar_one_or_none()


async def staff(session: AsyncSession, staff_id) -> StaffUser | None:
    return await session.get(StaffUser, staff_id)


async def demo_accounts(session: AsyncSession) -> list[str]:
    """Staff and partner clients `seed-demo` created that can still sign in (none in a database not yet
    migrated)."""
    if (await session.execute(text("SELECT to_regclass('staff_users') IS NULL"))).scalar_one():
        return []
    rows = await session.execute(
        text(
            "SELECT username FROM staff_users WHERE created_by = 'seed-demo' AND NOT disabled"
            " UNION ALL SELECT client_id FROM partner_clients WHERE created_by = 'seed-demo' AND NOT disabled"
            " ORDER BY 1"
        )
    )
    return list(rows.scalars())


async def partner_client(session: AsyncSession, client_id: str) -> PartnerClient | None:
    return await session.get(PartnerClient, client_id)


async def active_signing_key(session: AsyncSession) -> SigningKey | None:
    query = select(SigningKey).where(SigningKey.retired_at.is_(None)).order_by(SigningKey.created_at.desc()).limit(1)
    return (await session.execute(query)).scalar_one_or_none()


async def published_signing_keys(session: AsyncSession, retired_after: datetime) -> list[SigningKey]:
    query = select(SigningKey).where(or_(SigningKey.retired_at.is_(None), SigningKey.retired_at > retired_after))
    return list((await session.execute(query.order_by(SigningKey.created_at))).scalars())


async def lock_signing_keys(session: AsyncSession) -> None:
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('signing-keys'))"))


async def real_name(session: AsyncSession, person_id) -> RealName | None:
    return await session.get(RealName, person_id)


async def real_name_by_lookup(session: AsyncSession, lookup: bytes) -> RealName | None:
    return (await session.execute(select(RealName).where(RealName.id_number_lookup == lookup))).scalar_one_or_none()


async def lock_id_number(session: AsyncSession, lookup: bytes) -> None:
    """Serialise two people claiming the same number at once."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(encode(:k, 'hex'), 0))"), {"k": lookup})


async def record_failed_sign_in(session: AsyncSession, staff_id, *, threshold: int, lockout_minutes: int) -> None:
    """Count a wrong password atomically; the threshold-th one in a row locks the account."""
    await session.execute(
        text(
            "UPDATE staff_users SET failed_sign_ins = failed_sign_ins + 1, "
            "locked_until = CASE WHEN failed_sign_ins + 1 >= :threshold "
            "THEN now() + make_interval(mins => :minutes) ELSE locked_until END WHERE id = :id"
        ),
        {"id": staff_id, "threshold": threshold, "minutes": lockout_minutes},
    )


async def clear_failed_sign_ins(session: AsyncSession, staff_id) -> None:
    await session.execute(
        text("UPDATE staff_users SET failed_sign_ins = 0, locked_until = NULL WHERE id = :id"), {"id": staff_id}
    )


async def refresh_token(session: AsyncSession, token_hash: bytes, *, lock: bool = False) -> RefreshToken | None:
    query = select(RefreshToken).where(RefreshToken.token_hash == token_hash)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(query)).scalar_one_or_none()


async def revoke_refresh_family(session: AsyncSession, family_id) -> None:
    await session.execute(
        text("UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = :f AND revoked_at IS NULL"),
        {"f": family_id},
    )


async def kinship_link(session: AsyncSession, link_id, *, lock: bool = False) -> KinshipLink | None:
    query = select(KinshipLink).where(KinshipLink.id == link_id)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def active_kinship_between(session: AsyncSession, a, b) -> KinshipLink | None:
    query = select(KinshipLink).where(
        or_(
            (KinshipLink.claimant_id == a) & (KinshipLink.relative_id == b),
            (KinshipLink.claimant_id == b) & (KinshipLink.relative_id == a),
        ),
        KinshipLink.status.in_(("pending", "confirmed")),
    )
    return (await session.execute(query)).scalars().first()


async def kinships_of(session: AsyncSession, person_id, page: PageRequest, *, status: str | None) -> list[KinshipLink]:
    """A person's links claimed either way, one page newest first."""
    query = select(KinshipLink).where(or_(KinshipLink.claimant_id == person_id, KinshipLink.relative_id == person_id))
    if status is not None:
        query = query.where(KinshipLink.status == status)
    return list((await session.execute(keyset(query, KinshipLink.created_at, KinshipLink.id, page))).scalars())


async def guardianships_of(
    session: AsyncSession, person_id, page: PageRequest, *, status: str | None
) -> list[Guardianship]:
    """Guardianships where the person is the guardian or the minor, one page newest first."""
    query = select(Guardianship).where(or_(Guardianship.guardian_id == person_id, Guardianship.minor_id == person_id))
    if status is not None:
        query = query.where(Guardianship.status == status)
    return list((await session.execute(keyset(query, Guardianship.created_at, Guardianship.id, page))).scalars())


async def institution_named(session: AsyncSession, district: str, name: str) -> Institution | None:
    query = select(Institution).where(Institution.district == district, Institution.name == name)
    return (await session.execute(query)).scalar_one_or_none()


async def institutions_in(session: AsyncSession, district: str | None, page: PageRequest) -> list[Institution]:
    query = select(Institution)
    if district is not None:
        query = query.where(Institution.district == district)
    return list((await session.execute(keyset(query, Institution.confirmed_at, Institution.id, page))).scalars())


async def lock_pair(session: AsyncSession, a, b) -> None:
    first, second = sorted((str(a), str(b)))
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"kin:{first}:{second}"})


async def trainings_of(session: AsyncSession, person_id) -> list[Training]:
    query = select(Training).where(Training.person_id == person_id).order_by(Training.recorded_at)
    return list((await session.execute(query)).scalars())


async def live_role_grants(session: AsyncSession, person_id, *, lock: bool = False) -> list[RoleGrant]:
    query = select(RoleGrant).where(RoleGrant.person_id == person_id, RoleGrant.revoked_at.is_(None))
    return list((await session.execute(query.with_for_update() if lock else query)).scalars())


async def expired_role_grants(session: AsyncSession, now: datetime) -> list[RoleGrant]:
    query = (
        select(RoleGrant)
        .where(RoleGrant.revoked_at.is_(None), RoleGrant.expires_at <= now)
        .order_by(RoleGrant.expires_at)
        .limit(500)
        .with_for_update(skip_locked=True)
    )
    return list((await session.execute(query)).scalars())


async def live_guardianship(session: AsyncSession, guardian, minor) -> Guardianship | None:
    query = select(Guardianship).where(
        Guardianship.guardian_id == guardian, Guardianship.minor_id == minor, Guardianship.status != "revoked"
    )
    return (await session.execute(query)).scalar_one_or_none()


async def has_confirmed_guardian(session: AsyncSession, minor) -> bool:
    query = (
        select(func.count())
        .select_from(Guardianship)
        .where(Guardianship.minor_id == minor, Guardianship.status == "confirmed")
    )
    return (await session.execute(query)).scalar_one() > 0


async def recording_revoked(session: AsyncSession, person_id) -> bool:
    query = (
        select(func.count())
        .select_from(Sanction)
        .where(
            Sanction.person_id == person_id,
            Sanction.kind == "volunteer_recording_revoked",
            Sanction.lifted_at.is_(None),
        )
    )
    return (await session.execute(query)).scalar_one() > 0


async def sanctions(
    session: AsyncSession, page: PageRequest, *, person_id=None, institution_id=None, live_only: bool = False
) -> list[Sanction]:
    query = select(Sanction)
    if person_id is not None:
        query = query.where(Sanction.person_id == person_id)
    if institution_id is not None:
        query = query.where(Sanction.institution_id == institution_id)
    if live_only:
        query = query.where(Sanction.lifted_at.is_(None))
    return list((await session.execute(keyset(query, Sanction.applied_at, Sanction.id, page))).scalars())


async def revoke_sessions_of(session: AsyncSession, subject: str) -> int:
    """Revoke every live refresh token of the subject; the number of sign-in families ended."""
    families = (
        (
            await session.execute(
                text(
                    "UPDATE refresh_tokens SET revoked_at = now() WHERE subject = :s AND revoked_at IS NULL RETURNING family_id"
                ),
                {"s": subject},
            )
        )
        .scalars()
        .all()
    )
    return len(set(families))


async def live_qualification(session: AsyncSession, person_id, kind: str) -> Qualification | None:
    query = (
        select(Qualification)
        .where(Qualification.person_id == person_id, Qualification.kind == kind, Qualification.revoked_at.is_(None))
        .with_for_update()
    )
    return (await session.execute(query)).scalar_one_or_none()


async def qualifications_of(session: AsyncSession, person_id, page: PageRequest) -> list[Qualification]:
    """A person's qualifications, live and revoked, one page newest first."""
    query = select(Qualification).where(Qualification.person_id == person_id)
    return list((await session.execute(keyset(query, Qualification.recorded_at, Qualification.id, page))).scalars())


async def live_links_of(session: AsyncSession, person_id) -> list[KinshipLink]:
    query = (
        select(KinshipLink)
        .where(
            or_(KinshipLink.claimant_id == person_id, KinshipLink.relative_id == person_id),
            KinshipLink.status != "revoked",
        )
        .with_for_update()
    )
    return list((await session.execute(query)).scalars())


async def live_guardianships_of(session: AsyncSession, person_id) -> list[Guardianship]:
    query = (
        select(Guardianship)
        .where(
            or_(Guardianship.guardian_id == person_id, Guardianship.minor_id == person_id),
            Guardianship.status != "revoked",
        )
        .with_for_update()
    )
    return list((await session.execute(query)).scalars())


async def due_closures(session: AsyncSession, now, limit: int) -> list[AccountClosure]:
    query = (
        select(AccountClosure)
        .where(AccountClosure.state == "requested", AccountClosure.erase_after <= now)
        .order_by(AccountClosure.erase_after)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.execute(query)).scalars())


# What erasing a closed account removes or blanks (what must be kept stays, under the person id alone: grants
# and revocations with who and why, trainings and qualifications without their evidence, insurance without
# its numbers, special-elder categories without the officer's note, the offline consent reference).
_ERASE = [
    "DELETE FROM real_names WHERE person_id = :p",  # frees the identity number for a new registration
    "DELETE FROM real_name_claims WHERE claimant_id = :p",  # the claimant's sealed name and number
    "DELETE FROM wechat_accounts WHERE person_id = :p",
    "DELETE FROM contact_phones WHERE person_id = :p",
    "DELETE FROM phone_verifications WHERE person_id = :p",
    "DELETE FROM notifications WHERE person_id = :p",
    "DELETE FROM follow_up_contacts WHERE elder_id = :p",
    "UPDATE refresh_tokens SET revoked_at = coalesce(revoked_at, :now) WHERE subject = :subject",
    "UPDATE trainings SET certificate_number = NULL WHERE person_id = :p",
    "UPDATE qualifications SET evidence_ref = '(erased)' WHERE person_id = :p",
    "UPDATE volunteer_insurance SET registration_id = NULL, policy_number = NULL, history = '[]' WHERE person_id = :p",
    "UPDATE special_group_changes SET note = NULL WHERE person_id = :p",
    "UPDATE persons SET residence_district = NULL, permanent_resident = NULL, residence_check_note = NULL,"
    " erased_at = :now WHERE id = :p",
]


async def erase_personal_data(session: AsyncSession, person_id, now) -> None:
    params = {"p": person_id, "subject": str(person_id), "now": now}
    for statement in _ERASE:
        await session.execute(text(statement), {k: v for k, v in params.items() if f":{k}" in statement})


async def confirmed_relatives(session: AsyncSession, a, b) -> bool:
    """Whether a confirmed direct-relative link joins the two, claimed either way."""
    query = (
        select(func.count())
        .select_from(KinshipLink)
        .where(
            KinshipLink.status == "confirmed",
            or_(
                (KinshipLink.claimant_id == a) & (KinshipLink.relative_id == b),
                (KinshipLink.claimant_id == b) & (KinshipLink.relative_id == a),
            ),
        )
    )
    return bool(await session.scalar(query))


async def live_qualifications(session: AsyncSession, person_id) -> list[Qualification]:
    query = (
        select(Qualification)
        .where(Qualification.person_id == person_id, Qualification.revoked_at.is_(None))
        .with_for_update()
    )
    return list((await session.execute(query)).scalars())


async def role_grants_of(session: AsyncSession, person_id) -> list[RoleGrant]:
    """Every grant, live and revoked, oldest first."""
    query = select(RoleGrant).where(RoleGrant.person_id == person_id).order_by(RoleGrant.granted_at)
    return list((await session.execute(query)).scalars())


async def all_qualifications_of(session: AsyncSession, person_id) -> list[Qualification]:
    """Every qualification, live and revoked, oldest first."""
    query = select(Qualification).where(Qualification.person_id == person_id).order_by(Qualification.recorded_at)
    return list((await session.execute(query)).scalars())
