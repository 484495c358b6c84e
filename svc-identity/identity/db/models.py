"""Identity's tables. Relationships are lazy="raise": no async lazy load can hide in the code."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import ARRAY, Boolean, Date, DateTime, ForeignKey, LargeBinary, String, Text, Uuid, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Person(Base):
    __tablename__ = "persons"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    registered_via: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # Declared by the person (or staff for them); district officers act only for residents of their district.
    residence_district: Mapped[str | None] = mapped_column(String(6))
    permanent_resident: Mapped[bool | None] = mapped_column(Boolean)
    residence_declared_by: Mapped[str | None] = mapped_column(String(128))
    residence_declared_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    residence_checked_by: Mapped[str | None] = mapped_column(String(128))
    residence_checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    residence_check_note: Mapped[str | None] = mapped_column(Text)
    suspended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    suspended_by: Mapped[str | None] = mapped_column(String(128))
    suspension_reason: Mapped[str | None] = mapped_column(Text)
    # A closed account whose personal data was erased: the id stays as a pseudonym in what must be kept.
    erased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SpecialGroupChange(Base):
    """Every setting or clearing of a person's special-elder categories, by whom and why (append-only);
    the newest row is the current state."""

    __tablename__ = "special_group_changes"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id"), index=True)
    district: Mapped[str] = mapped_column(String(6))
    categories: Mapped[list[str]] = mapped_column(ARRAY(String(40)))
    note: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    set_by: Mapped[str] = mapped_column(String(128))
    set_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class WechatAccount(Base):
    __tablename__ = "wechat_accounts"

    openid: Mapped[str] = mapped_column(String(128), primary_key=True)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id"), unique=True)
    unionid: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class StaffUser(Base):
    __tablename__ = "staff_users"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128))
    password_hash: Mapped[str] = mapped_column(Text)
    roles: Mapped[list[str]] = mapped_column(ARRAY(String(32)))
    district: Mapped[str | None] = mapped_column(String(6))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    institution_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # institution operators
    disabled_by: Mapped[str | None] = mapped_column(String(128))
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    failed_sign_ins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PartnerClient(Base):
    __tablename__ = "partner_clients"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    secret_hash: Mapped[str] = mapped_column(Text)
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class SigningKey(Base):
    """Token signing keys. The private half is AEAD-encrypted; retired keys stay in JWKS until
    every token they signed has expired."""

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(16))
    private_key_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    public_jwk: Mapped[dict] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RealName(Base):
    """A person's verified real name and identity number: encrypted, found by keyed hash, shown masked.
    Only derived facts (the days the person turns 18 and 60) are kept in the clear."""

    __tablename__ = "real_names"

    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id"), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32))
    name_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    id_number_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    id_number_lookup: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    name_lookup: Mapped[bytes | None] = mapped_column(LargeBinary)  # keyed hash of the normalised full name
    name_masked: Mapped[str] = mapped_column(String(64))
    id_number_masked: Mapped[str] = mapped_column(String(18))
    turns_18_on: Mapped[date] = mapped_column(Date)
    turns_60_on: Mapped[date] = mapped_column(Date)
    verified_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # Whether the other services were told (the dates themselves never leave identity).
    came_of_age_announced: Mapped[bool] = mapped_column(Boolean, server_default="false")
    redemption_age_announced: Mapped[bool] = mapped_column(Boolean, server_default="false")
    # Whether the roles that wait for the 14th birthday were looked at (nothing is announced for it).
    volunteer_age_reached: Mapped[bool] = mapped_column(Boolean, server_default="false")


class RefreshToken(Base):
    """One link of a rotation chain (a family). Only a hash of the token is stored."""

    __tablename__ = "refresh_tokens"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    family_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    subject: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # person | staff
    token_hash: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ContactPhone(Base):
    """A person's proven contact phone, sealed (written by the phone verification in db/messages.py)."""

    __tablename__ = "contact_phones"

    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id"), primary_key=True)
    key_id: Mapped[str] = mapped_column(Text)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    masked: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class KinshipLink(Base):
    """A claimed direct-relative link: `relative_id` is `claimant_id`'s `relation`."""

    __tablename__ = "kinship_links"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    claimant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id"))
    relative_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id"))
    relation: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | confirmed | revoked
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    confirmed_by: Mapped[str | None] = mapped_column(String(64))
    document_ref: Mapped[str | None] = mapped_column(String(128))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_by: Mapped[str | None] = mapped_column(String(64))
    revoke_reason: Mapped[str | None] = mapped_column(String(200))


class Training(Base):
    """Completed volunteer or first-aid training, recorded by an institution operator."""

    __tablename__ = "trainings"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # volunteer | first_aid
    completed_on: Mapped[date] = mapped_column(Date)
    certificate_number: Mapped[str | None] = mapped_column(String(64))
    certificate_expires_on: Mapped[date | None] = mapped_column(Date)
    recorded_by: Mapped[str] = mapped_column(String(128))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Qualification(Base):
    """A volunteer's professional qualification (法律职业资格, 医护执业资格), recorded by an institution with its
    evidence; never deleted — a revoked or replaced one keeps who and why."""

    __tablename__ = "qualifications"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    evidence_ref: Mapped[str] = mapped_column(String(128))
    valid_until: Mapped[date] = mapped_column(Date)
    institution_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    recorded_by: Mapped[str] = mapped_column(String(128))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_by: Mapped[str | None] = mapped_column(String(128))
    revoke_reason: Mapped[str | None] = mapped_column(Text)


class RoleGrant(Base):
    """A person's role, from grant to revocation (rows are never deleted: the history of who and why)."""

    __tablename__ = "role_grants"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    granted_by: Mapped[str] = mapped_column(String(128))
    grant_reason: Mapped[str] = mapped_column(Text)
    granted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_by: Mapped[str | None] = mapped_column(String(128))
    revoke_reason: Mapped[str | None] = mapped_column(Text)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class VolunteerInsurance(Base):
    """The latest registration and insurance status 志愿北京 reported for a person; `history` keeps every
    report (append-only JSON list) so a claim can be checked against what was known at the time."""

    __tablename__ = "volunteer_insurance"

    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id"), primary_key=True)
    registered: Mapped[bool] = mapped_column(Boolean)
    registration_id: Mapped[str | None] = mapped_column(String(64))
    insured: Mapped[bool] = mapped_column(Boolean)
    policy_number: Mapped[str | None] = mapped_column(String(64))
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)
    recorded_by: Mapped[str] = mapped_column(String(128))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    history: Mapped[list] = mapped_column(JSONB, default=list)


class Guardianship(Base):
    """A guardian (监护人) claims a minor; the minor (or staff with a document) confirms."""

    __tablename__ = "guardianships"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    guardian_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id"), index=True)
    minor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | confirmed | revoked
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    confirmed_by: Mapped[str | None] = mapped_column(String(64))
    document_ref: Mapped[str | None] = mapped_column(String(128))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_by: Mapped[str | None] = mapped_column(String(64))
    revoke_reason: Mapped[str | None] = mapped_column(String(200))


class OfflineRepresentation(Base):
    """An institution acts for a person who cannot use a phone: registered offline with their written
    consent. Institution operators of `district` may act for them."""

    __tablename__ = "offline_representations"

    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id"), primary_key=True)
    district: Mapped[str] = mapped_column(String(6))
    consent_ref: Mapped[str] = mapped_column(String(128))
    registered_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Sanction(Base):
    """A sanction from audit as identity applies it: a volunteer's recording rights removed, or an
    institution on the dishonesty list (失信名单). Lifted (not deleted) by an auditor with a reason."""

    __tablename__ = "sanctions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)  # audit's sanction id
    kind: Mapped[str] = mapped_column(String(32))
    person_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    institution_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    decided_by: Mapped[str] = mapped_column(String(128))
    note: Mapped[str] = mapped_column(Text)
    applied_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    lifted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lifted_by: Mapped[str | None] = mapped_column(String(128))
    lift_reason: Mapped[str | None] = mapped_column(Text)


class Institution(Base):
    """A professional service institution (专业机构), confirmed by its sub-district or township (街道/乡镇):
    the district officer records the confirmation document. Its operators act offline for people. Listed on
    the dishonesty list (失信名单) by a sanction, its operators cannot sign in until the listing is lifted."""

    __tablename__ = "institutions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(128))
    district: Mapped[str] = mapped_column(String(6))
    subdistrict: Mapped[str] = mapped_column(String(64))
    confirmation_ref: Mapped[str] = mapped_column(String(128))
    confirmed_by: Mapped[str] = mapped_column(String(128))
    confirmed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    listed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AccountClosure(Base):
    """A person's request to close their account (注销): erased after the cooling-off period unless withdrawn."""

    __tablename__ = "account_closures"

    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id"), primary_key=True)
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    erase_after: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    coins_to: Mapped[str] = mapped_column(String(16))  # welfare | relative
    relative_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    state: Mapped[str] = mapped_column(String(16))  # requested | withdrawn | erased
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    erased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
