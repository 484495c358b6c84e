"""Events published by svc-identity on `identity.events`, keyed by person id.

Personal data never travels in events: no identity number, no full birth date, no name.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Literal

from contracts.base import EventData
from contracts.exports import ListExport


class PersonRegistered(EventData):
    TYPE = "timebank.identity.person.registered"
    VERSION = 1

    person_id: uuid.UUID
    channel: Literal["wechat", "offline"]
    registered_at: datetime
    registered_by: uuid.UUID | None = None  # the institution operator, for offline registration

    @classmethod
    def example(cls) -> PersonRegistered:
        return cls(person_id=uuid.UUID(int=1), channel="wechat", registered_at=datetime(2026, 11, 30, tzinfo=UTC))


class PersonVerifiedV1(EventData):
    """Version 1, no longer produced: its dates disclosed the birth date. Read only for events still in flight."""

    TYPE = "timebank.identity.person.verified"
    VERSION = 1

    person_id: uuid.UUID
    verified_at: datetime
    turns_18_on: date
    turns_60_on: date

    @classmethod
    def example(cls) -> PersonVerifiedV1:
        return cls(
            person_id=uuid.UUID(int=1),
            verified_at=datetime(2026, 11, 30, tzinfo=UTC),
            turns_18_on=date(1968, 1, 1),
            turns_60_on=date(2010, 1, 1),
        )


class PersonVerified(EventData):
    """Real-name verification succeeded. Carries the facts other services need as they stand now, never the
    number, the birth date or a date it follows from; a fact that becomes true later is its own event
    (PersonCameOfAge, PersonReachedRedemptionAge)."""

    TYPE = "timebank.identity.person.verified"
    VERSION = 2

    person_id: uuid.UUID
    verified_at: datetime
    adult: bool
    redemption_age: bool  # 60 or over: redeems their own coins for their own services

    @classmethod
    def example(cls) -> PersonVerified:
        return cls(
            person_id=uuid.UUID(int=1), verified_at=datetime(2026, 11, 30, tzinfo=UTC), adult=True, redemption_age=False
        )


class PersonVerifiedAnyVersion:
    """Reads `person.verified` of either version a consumer may still receive: version 1 (its dates, still
    possible in flight) or the current one. Consumers keep the facts, never version 1's dates."""

    @staticmethod
    def read(data: dict) -> PersonVerified | PersonVerifiedV1:
        return (PersonVerifiedV1 if "turns_18_on" in data else PersonVerified).read(data)


class PersonCameOfAge(EventData):
    """A verified person turned 18 (announced by identity's daily look at the stored facts)."""

    TYPE = "timebank.identity.person.came-of-age"
    VERSION = 1

    person_id: uuid.UUID

    @classmethod
    def example(cls) -> PersonCameOfAge:
        return cls(person_id=uuid.UUID(int=1))


class PersonReachedRedemptionAge(EventData):
    """A verified person turned 60: from now on they redeem their own coins (announced daily, as above)."""

    TYPE = "timebank.identity.person.reached-redemption-age"
    VERSION = 1

    person_id: uuid.UUID

    @classmethod
    def example(cls) -> PersonReachedRedemptionAge:
        return cls(person_id=uuid.UUID(int=1))


class PersonalDataAccessed(EventData):
    """Someone read a person's unmasked personal data. Names the fields read, never their values."""

    TYPE = "timebank.identity.personal-data.accessed"
    VERSION = 1

    person_id: uuid.UUID
    accessed_by: str
    accessor_roles: list[str]
    fields: list[Literal["name", "id_number", "phone"]]
    purpose: str
    accessed_at: datetime

    @classmethod
    def example(cls) -> PersonalDataAccessed:
        return cls(
            person_id=uuid.UUID(int=1),
            accessed_by="staff-1",
            accessor_roles=["auditor"],
            fields=["name", "id_number"],
            purpose="核查虚假服务记录",
            accessed_at=datetime(2026, 11, 30, tzinfo=UTC),
        )


KinRelation = Literal["parent", "child", "grandparent", "grandchild"]
# If B is A's parent, A is B's child: what a link says read from its other end.
INVERSE_RELATION: dict[str, KinRelation] = {
    "parent": "child",
    "child": "parent",
    "grandparent": "grandchild",
    "grandchild": "grandparent",
}


class KinshipConfirmed(EventData):
    """A direct-relative (直系亲属) link is confirmed: `relative_id` is `person_id`'s `relation`; the inverse
    holds too (a parent's child, a grandparent's grandchild). The ledger allows gifts along these links."""

    TYPE = "timebank.identity.kinship.confirmed"
    VERSION = 1

    link_id: uuid.UUID
    person_id: uuid.UUID
    relative_id: uuid.UUID
    relation: KinRelation
    confirmed_by: str
    document_ref: str | None = None
    confirmed_at: datetime

    @classmethod
    def example(cls) -> KinshipConfirmed:
        return cls(
            link_id=uuid.UUID(int=9),
            person_id=uuid.UUID(int=1),
            relative_id=uuid.UUID(int=2),
            relation="parent",
            confirmed_by=str(uuid.UUID(int=2)),
            confirmed_at=datetime(2026, 11, 30, tzinfo=UTC),
        )


class KinshipRevoked(EventData):
    TYPE = "timebank.identity.kinship.revoked"
    VERSION = 1

    link_id: uuid.UUID
    person_id: uuid.UUID
    relative_id: uuid.UUID
    revoked_by: str
    reason: str
    revoked_at: datetime

    @classmethod
    def example(cls) -> KinshipRevoked:
        return cls(
            link_id=uuid.UUID(int=9),
            person_id=uuid.UUID(int=1),
            relative_id=uuid.UUID(int=2),
            revoked_by=str(uuid.UUID(int=1)),
            reason="登记错误",
            revoked_at=datetime(2026, 11, 30, tzinfo=UTC),
        )


class ResidenceDeclared(EventData):
    """A person declared (or staff recorded) their district of residence and whether they are a Beijing
    permanent resident (常住居民). Staff may later check the declaration."""

    TYPE = "timebank.identity.residence.declared"
    VERSION = 1

    person_id: uuid.UUID
    district: str
    permanent_resident: bool
    declared_by: str
    declared_at: datetime

    @classmethod
    def example(cls) -> ResidenceDeclared:
        return cls(
            person_id=uuid.UUID(int=1),
            district="110105",
            permanent_resident=True,
            declared_by=str(uuid.UUID(int=1)),
            declared_at=datetime(2026, 11, 30, tzinfo=UTC),
        )


SpecialCategory = Literal[
    "economic_hardship",
    "severe_disability_or_dementia",
    "family_planning_special",
    "severe_disability",
    "advanced_age",
    "other",
]


class SpecialGroupsSet(EventData):
    """A district officer set (or, with an empty list, cleared) an elder's special-elder categories. The
    district is the officer's, which is the elder's district of residence; grants come from it."""

    TYPE = "timebank.identity.special-groups.set"
    VERSION = 1

    person_id: uuid.UUID
    district: str
    categories: list[SpecialCategory]
    note: str | None = None
    set_by: str
    reason: str
    set_at: datetime

    @classmethod
    def example(cls) -> SpecialGroupsSet:
        return cls(
            person_id=uuid.UUID(int=1),
            district="110105",
            categories=["advanced_age"],
            set_by="officer-110105",
            reason="年满80周岁",
            set_at=datetime(2026, 11, 30, tzinfo=UTC),
        )


PersonRole = Literal["elder", "volunteer", "responder"]


class RoleGranted(EventData):
    """A person became eligible for a role (or staff granted it). `expires_at` for responders: the first-aid
    certificate's expiry, when the role lapses by itself."""

    TYPE = "timebank.identity.role.granted"
    VERSION = 1

    person_id: uuid.UUID
    role: PersonRole
    granted_by: str
    reason: str
    expires_at: datetime | None = None
    granted_at: datetime

    @classmethod
    def example(cls) -> RoleGranted:
        return cls(
            person_id=uuid.UUID(int=3),
            role="volunteer",
            granted_by="institution-1",
            reason="实名认证、常住居民、年满18周岁、已完成志愿服务培训",
            granted_at=datetime(2026, 11, 30, tzinfo=UTC),
        )


class RoleRevoked(EventData):
    TYPE = "timebank.identity.role.revoked"
    VERSION = 1

    person_id: uuid.UUID
    role: PersonRole
    revoked_by: str
    reason: str
    revoked_at: datetime

    @classmethod
    def example(cls) -> RoleRevoked:
        return cls(
            person_id=uuid.UUID(int=3),
            role="responder",
            revoked_by="system",
            reason="急救证书已过期",
            revoked_at=datetime(2026, 11, 30, tzinfo=UTC),
        )


# Professional qualifications some service items need (the catalogue names which): 法律职业资格 (a lawyer's
# or basic-level legal worker's licence) and 医护执业资格 (a physician's or nurse's practising certificate).
QualificationKind = Literal["legal", "medical"]


class QualificationRecorded(EventData):
    """An institution recorded a volunteer's professional qualification, valid through `valid_until`. The
    evidence (certificate number) stays in identity; a newer record of the same kind replaces the older."""

    TYPE = "timebank.identity.qualification.recorded"
    VERSION = 1

    qualification_id: uuid.UUID
    person_id: uuid.UUID
    kind: QualificationKind
    valid_until: date
    recorded_by: str
    recorded_at: datetime

    @classmethod
    def example(cls) -> QualificationRecorded:
        return cls(
            qualification_id=uuid.UUID(int=12),
            person_id=uuid.UUID(int=3),
            kind="legal",
            valid_until=date(2028, 5, 31),
            recorded_by="institution-1",
            recorded_at=datetime(2026, 11, 30, tzinfo=UTC),
        )


class QualificationRevoked(EventData):
    """Staff withdrew a qualification: it no longer counts, and bookings that needed it end. (One replaced by a
    newer record of its kind is not withdrawn: `qualification.recorded` of the newer one says it all.)"""

    TYPE = "timebank.identity.qualification.revoked"
    VERSION = 1

    qualification_id: uuid.UUID
    person_id: uuid.UUID
    kind: QualificationKind
    revoked_by: str
    reason: str
    revoked_at: datetime

    @classmethod
    def example(cls) -> QualificationRevoked:
        return cls(
            qualification_id=uuid.UUID(int=12),
            person_id=uuid.UUID(int=3),
            kind="legal",
            revoked_by="institution-1",
            reason="执业证书被吊销",
            revoked_at=datetime(2026, 12, 1, tzinfo=UTC),
        )


class InsuranceRecorded(EventData):
    """志愿北京 reported a volunteer's registration and accident-insurance status (被保险人资格)."""

    TYPE = "timebank.identity.insurance.recorded"
    VERSION = 1

    person_id: uuid.UUID
    registered: bool
    insured: bool
    valid_from: date | None = None
    valid_until: date | None = None
    recorded_by: str
    recorded_at: datetime

    @classmethod
    def example(cls) -> InsuranceRecorded:
        return cls(
            person_id=uuid.UUID(int=3),
            registered=True,
            insured=True,
            valid_from=date(2026, 1, 1),
            valid_until=date(2026, 12, 31),
            recorded_by="volunteer-beijing",
            recorded_at=datetime(2026, 11, 30, tzinfo=UTC),
        )


class GuardianshipConfirmed(EventData):
    """`guardian_id` is the confirmed guardian (监护人) of the minor `minor_id`, who may then volunteer
    accompanied by them."""

    TYPE = "timebank.identity.guardianship.confirmed"
    VERSION = 1

    guardianship_id: uuid.UUID
    guardian_id: uuid.UUID
    minor_id: uuid.UUID
    confirmed_by: str
    document_ref: str | None = None
    confirmed_at: datetime

    @classmethod
    def example(cls) -> GuardianshipConfirmed:
        return cls(
            guardianship_id=uuid.UUID(int=11),
            guardian_id=uuid.UUID(int=2),
            minor_id=uuid.UUID(int=4),
            confirmed_by=str(uuid.UUID(int=4)),
            confirmed_at=datetime(2026, 11, 30, tzinfo=UTC),
        )


class GuardianshipRevoked(EventData):
    TYPE = "timebank.identity.guardianship.revoked"
    VERSION = 1

    guardianship_id: uuid.UUID
    guardian_id: uuid.UUID
    minor_id: uuid.UUID
    revoked_by: str
    reason: str
    revoked_at: datetime

    @classmethod
    def example(cls) -> GuardianshipRevoked:
        return cls(
            guardianship_id=uuid.UUID(int=11),
            guardian_id=uuid.UUID(int=2),
            minor_id=uuid.UUID(int=4),
            revoked_by="institution-1",
            reason="监护关系变更",
            revoked_at=datetime(2026, 11, 30, tzinfo=UTC),
        )


class SanctionLifted(EventData):
    """An auditor reversed a sanction identity applied (recording rights restored, or the institution taken
    off the dishonesty list 失信名单), with a reason."""

    TYPE = "timebank.identity.sanction.lifted"
    VERSION = 1

    sanction_id: uuid.UUID
    kind: Literal["volunteer_recording_revoked", "institution_listed"]
    person_id: uuid.UUID | None = None
    institution_id: uuid.UUID | None = None
    lifted_by: str
    reason: str
    lifted_at: datetime

    @classmethod
    def example(cls) -> SanctionLifted:
        return cls(
            sanction_id=uuid.UUID(int=7),
            kind="volunteer_recording_revoked",
            person_id=uuid.UUID(int=3),
            lifted_by="auditor-1",
            reason="复核后确认记录属实",
            lifted_at=datetime(2026, 12, 9, tzinfo=UTC),
        )


class AccountSuspended(EventData):
    """A person or staff member was suspended: every sign-in session (refresh-token family) is revoked
    and new sign-ins are refused; access tokens already issued live out their few minutes."""

    TYPE = "timebank.identity.account.suspended"
    VERSION = 1

    subject_id: uuid.UUID
    kind: Literal["person", "staff"]
    suspended_by: str
    reason: str
    sessions_revoked: int
    suspended_at: datetime

    @classmethod
    def example(cls) -> AccountSuspended:
        return cls(
            subject_id=uuid.UUID(int=3),
            kind="person",
            suspended_by="admin",
            reason="账户被盗用",
            sessions_revoked=2,
            suspended_at=datetime(2026, 11, 30, tzinfo=UTC),
        )


class AccountReinstated(EventData):
    TYPE = "timebank.identity.account.reinstated"
    VERSION = 1

    subject_id: uuid.UUID
    kind: Literal["person", "staff"]
    reinstated_by: str
    reason: str
    reinstated_at: datetime

    @classmethod
    def example(cls) -> AccountReinstated:
        return cls(
            subject_id=uuid.UUID(int=3),
            kind="person",
            reinstated_by="admin",
            reason="已核实本人",
            reinstated_at=datetime(2026, 12, 1, tzinfo=UTC),
        )


ClosureBeneficiary = Literal["welfare", "relative"]


class AccountClosureRequested(EventData):
    """A person asked to close their account (注销). Nothing new starts for them from now (no request, no
    booking), what is pending is cancelled, and after the cooling-off period (`erase_after`) their personal data
    is erased (`person.erased`) unless they withdraw first."""

    TYPE = "timebank.identity.account-closure.requested"
    VERSION = 1

    person_id: uuid.UUID
    requested_at: datetime
    erase_after: datetime

    @classmethod
    def example(cls) -> AccountClosureRequested:
        return cls(
            person_id=uuid.UUID(int=3),
            requested_at=datetime(2026, 12, 6, tzinfo=UTC),
            erase_after=datetime(2026, 12, 13, tzinfo=UTC),
        )


class AccountClosureWithdrawn(EventData):
    TYPE = "timebank.identity.account-closure.withdrawn"
    VERSION = 1

    person_id: uuid.UUID
    withdrawn_at: datetime

    @classmethod
    def example(cls) -> AccountClosureWithdrawn:
        return cls(person_id=uuid.UUID(int=3), withdrawn_at=datetime(2026, 12, 7, tzinfo=UTC))


class PersonErased(EventData):
    """A closed account's personal data is erased: the person id stays as a pseudonym in what must be kept
    (ledger entries, the audit trail, service records), nothing links it to a person any more. The ledger moves
    the coins by the rule the person chose: transferable coins to the public-welfare account or to the named
    direct relative (`relative_id`, confirmed when the closure was asked), granted and allocated coins back to
    where they came from."""

    TYPE = "timebank.identity.person.erased"
    VERSION = 1

    person_id: uuid.UUID
    coins_to: ClosureBeneficiary
    relative_id: uuid.UUID | None = None
    erased_at: datetime

    @classmethod
    def example(cls) -> PersonErased:
        return cls(
            person_id=uuid.UUID(int=3),
            coins_to="relative",
            relative_id=uuid.UUID(int=2),
            erased_at=datetime(2026, 12, 13, tzinfo=UTC),
        )


class RealNameClaimOpened(EventData):
    """Someone proved to the authority that a 居民身份证号 verified for another account is theirs by name:
    staff of their district decide (identity's real-name claims)."""

    TYPE = "timebank.identity.real-name-claim.opened"
    VERSION = 1

    claim_id: uuid.UUID
    claimant_id: uuid.UUID
    holder_id: uuid.UUID
    district: str | None

    @classmethod
    def example(cls) -> RealNameClaimOpened:
        return cls(
            claim_id=uuid.UUID(int=3), claimant_id=uuid.UUID(int=1), holder_id=uuid.UUID(int=2), district="110105"
        )


class RealNameClaimDecided(EventData):
    """Staff decided a real-name claim on the evidence they saw (the original ID card at a service counter…):
    `transferred` moves the number to the claimant, `rejected` leaves it where it was."""

    TYPE = "timebank.identity.real-name-claim.decided"
    VERSION = 1

    claim_id: uuid.UUID
    claimant_id: uuid.UUID
    holder_id: uuid.UUID
    decision: Literal["transferred", "rejected"]
    decided_by: str
    evidence: str

    @classmethod
    def example(cls) -> RealNameClaimDecided:
        return cls(
            claim_id=uuid.UUID(int=3),
            claimant_id=uuid.UUID(int=1),
            holder_id=uuid.UUID(int=2),
            decision="transferred",
            decided_by="staff:officer-110105",
            evidence="查验居民身份证原件，持证人为申请人本人",
        )


class RealNameWithdrawn(EventData):
    """A person's real-name verification was withdrawn (their number was found to be someone else's): they are
    unverified again, and facts learned from their verification no longer hold."""

    TYPE = "timebank.identity.real-name.withdrawn"
    VERSION = 1

    person_id: uuid.UUID
    claim_id: uuid.UUID

    @classmethod
    def example(cls) -> RealNameWithdrawn:
        return cls(person_id=uuid.UUID(int=2), claim_id=uuid.UUID(int=3))


class ListExported(ListExport):
    """A staff member exported a list of identity's (the people directory) as a file."""

    TYPE = "timebank.identity.list.exported"

    @classmethod
    def example(cls) -> ListExported:
        return cls.sample("people")


class NotificationDelivered(EventData):
    """An urgent notification (one that may fall back to SMS: a responder's alert) was accepted by WeChat or the
    SMS provider: its sender learns that it reached the person's phone, and by which channel."""

    TYPE = "timebank.identity.notification.delivered"
    VERSION = 1

    notification_id: uuid.UUID
    person_id: uuid.UUID
    template: str
    channel: Literal["wechat", "sms"]
    requested_at: datetime
    delivered_at: datetime

    @classmethod
    def example(cls) -> NotificationDelivered:
        return cls(
            notification_id=uuid.UUID(int=31),
            person_id=uuid.UUID(int=3),
            template="incident_alert",
            channel="wechat",
            requested_at=datetime(2026, 11, 30, tzinfo=UTC),
            delivered_at=datetime(2026, 11, 30, 0, 0, 1, tzinfo=UTC),
        )
