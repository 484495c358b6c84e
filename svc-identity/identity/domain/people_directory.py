"""The people directory (人员查询): staff find a person by full name, phone (full or masked as 138****1234) or full
居民身份证号, and open the person's page. District officers see the residents of their own district; the city
admin and auditors see everyone; an institution's operators find a resident of their district only by a full
identity number or phone (the person in front of them: to record training, to register them offline).

Names and numbers are sealed at rest, so a name or an identity number is found by its keyed hash, never by
reading every row; a phone by its masked form, then (for a full number) by opening the few that share it. A
search by a piece of personal data is an access to it: each person it finds is published as
`personal-data.accessed`, naming the searcher and what they searched by, in the same transaction as the answer."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.identity import ListExported, PersonalDataAccessed
from identity.db import people as repo
from identity.db import repository
from identity.db.models import Guardianship, KinshipLink, OfflineRepresentation, Person, Sanction, Training
from identity.domain import contact, roles, special_groups
from identity.domain.publish import publish
from identity.domain.real_name import age_from, beijing_today, name_lookup
from identity.domain.resident_id import parse_resident_id
from identity.pii import PersonalDataCipher, Sealed
from servicekit import clock, exports
from servicekit.auth import Principal
from servicekit.errors import NotFound, UnprocessableInput
from servicekit.pagination import PageRequest, page_of

By = Literal["id_number", "phone", "name"]
_ID_SHAPE = re.compile(r"^\d{17}[\dXx]$")
_MASKED_PHONE = re.compile(r"^1[3-9]\d\*{4}\d{4}$")
_DIGITS = re.compile(r"^[\d*\s-]+$")
LIST = "people"  # the list's name in its cursors


@dataclass(frozen=True)
class Query:
    """What a search string asks for: the criterion and its value as the repository matches it."""

    by: By | None
    lookup: bytes | None = None
    phone_masked: str | None = None
    phone: str | None = None  # a full number: the candidates sharing its mask are opened and compared


def understand(q: str | None, cipher: PersonalDataCipher) -> Query:
    text = (q or "").strip()
    if not text:
        return Query(None)
    compact = text.replace(" ", "").replace("-", "").removeprefix("+86")
    if _ID_SHAPE.match(compact):
        resident = parse_resident_id(compact, today=beijing_today())
        return Query("id_number", lookup=cipher.lookup_hash(resident.number))
    if contact.MOBILE.match(compact):
        return Query("phone", phone_masked=contact.mask(compact), phone=compact)
    if _MASKED_PHONE.match(compact):
        return Query("phone", phone_masked=compact)
    if _DIGITS.match(text):
        raise UnprocessableInput(
            "请输入完整的身份证号、手机号（可用138****1234形式）或姓名",
            "Give a full identity number, a phone number (full or as 138****1234) or a full name",
            field="q",
        )
    return Query("name", lookup=name_lookup(cipher, text))


class IdentifierRequired(UnprocessableInput):
    type = "identifier-required"
    title_zh, title_en = "请按完整身份证号或手机号查找", "Find by a full identity number or phone number"


def _operator_only(reader: Principal) -> bool:
    return not reader.has_role("district_officer", "city_admin", "auditor")


def _scope(reader: Principal, district: str | None) -> str | None:
    """The district a reader's search is confined to: an officer's own, whatever they asked for."""
    if reader.has_role("city_admin", "auditor"):
        return district
    if reader.district is None or (district is not None and district != reader.district):
        raise special_groups.OutsideDistrict()
    return reader.district


async def search(
    session: AsyncSession,
    cipher: PersonalDataCipher,
    *,
    reader: Principal,
    q: str | None,
    district: str | None,
    page: PageRequest,
) -> list[repo.Listed]:
    query = understand(q, cipher)
    if _operator_only(reader) and not (query.by == "id_number" or query.phone is not None):
        # An institution finds the person in front of it (their card, their phone), never browses the district.
        raise IdentifierRequired(
            "机构工作人员只能按完整身份证号或手机号查找",
            "Institutions find a person by a full identity number or phone",
        )
    found = await repo.search(
        session,
        page,
        district=_scope(reader, district),
        id_number_lookup=query.lookup if query.by == "id_number" else None,
        name_lookup=query.lookup if query.by == "name" else None,
        phone_masked=query.phone_masked,
    )
    if query.phone is not None:
        found = [p for p in found if _phone_of(cipher, p) == query.phone]
    if query.by is not None:
        now = clock.now()
        for person in found[: page.limit]:
            await publish(
                session,
                PersonalDataAccessed(
                    person_id=person.person_id,
                    accessed_by=reader.id,
                    accessor_roles=sorted(reader.roles),
                    fields=[query.by],
                    purpose=f"人员查询 people search by {query.by}",
                    accessed_at=now,
                ),
                subject=person.person_id,
                actor=reader.id,
            )
    return found


def _phone_of(cipher: PersonalDataCipher, person: repo.Listed) -> str | None:
    if person.phone_key_id is None or person.phone_sealed is None:
        return None
    return cipher.open(Sealed(person.phone_key_id, person.phone_sealed), purpose="phone", owner=str(person.person_id))


@dataclass(frozen=True)
class Profile:
    """A person's page for staff: masked personal data and the facts identity keeps about them."""

    listed: repo.Listed
    person: Person
    age: int | None
    roles: tuple[str, ...]
    special_groups: list[str]
    trainings: list[Training]
    kinships: list[KinshipLink]
    guardianships: list[Guardianship]
    sanctions: list[Sanction]
    represented_by: OfflineRepresentation | None


async def profile(session: AsyncSession, *, reader: Principal, person_id: uuid.UUID) -> Profile:
    listed = await repo.listed(session, person_id)
    person = await repo.person(session, person_id)
    if listed is None or person is None:
        raise NotFound("用户不存在", "No such person")
    if not reader.has_role("city_admin", "auditor") and (reader.district is None or listed.district != reader.district):
        raise special_groups.OutsideDistrict()
    change = await repository.latest_special_group_change(session, person_id)
    return Profile(
        listed=listed,
        person=person,
        age=age_from(listed.turns_18_on, beijing_today()) if listed.turns_18_on else None,
        roles=await roles.live_roles(session, person_id),
        special_groups=change.categories if change else [],
        trainings=await repository.trainings_of(session, person_id),
        kinships=await repo.links_of(session, person_id),
        guardianships=await repo.guardianships_of(session, person_id),
        sanctions=await repo.sanctions_in_force(session, person_id),
        represented_by=await repo.representation(session, person_id),
    )


async def export(
    session: AsyncSession,
    cipher: PersonalDataCipher,
    *,
    reader: Principal,
    q: str | None,
    district: str | None,
    fmt: exports.Format,
) -> list[repo.Listed]:
    """Everyone the same search finds, for a file; the export itself is published (`list.exported`) with the
    search's own access records."""

    async def page(wanted: PageRequest) -> tuple[list, str | None]:
        found = await search(session, cipher, reader=reader, q=q, district=district, page=wanted)
        return page_of(LIST, found, wanted, at="created_at", id="person_id")

    rows = await exports.every_row(LIST, page)
    filters = {"q_kind": understand(q, cipher).by, "district": district}
    await publish(
        session,
        ListExported(**exports.facts(reader, LIST, fmt, filters, len(rows))),
        subject=reader.id,
        actor=reader.id,
    )
    return rows


async def index_names(session: AsyncSession, cipher: PersonalDataCipher, *, batch: int = 500) -> int:
    """Give the names verified before the directory existed their keyed hash; the number indexed (0: done)."""
    records = await repo.names_without_lookup(session, batch)
    for record in records:
        name = cipher.open(Sealed(record.key_id, record.name_encrypted), purpose="name", owner=str(record.person_id))
        await repo.set_name_lookup(session, record.person_id, name_lookup(cipher, name))
    return len(records)
