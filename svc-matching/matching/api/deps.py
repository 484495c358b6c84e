from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from matching.domain.callers import CITY_WIDE_STAFF, DISTRICT_STAFF
from matching.settings import MatchingSettings
from servicekit.auth import CurrentPrincipal, Principal, require_roles
from servicekit.errors import Forbidden
from servicekit.pii import PersonalDataCipher


def settings_of(request: Request) -> MatchingSettings:
    return request.app.state.runtime.settings


def cipher_of(request: Request) -> PersonalDataCipher:
    return request.app.state.cipher


async def _person_or_operator(principal: CurrentPrincipal) -> Principal:
    """People act for themselves; institution operators for the people they represent (or sign for them)."""
    if principal.kind != "person" and not principal.has_role("institution_operator"):
        raise Forbidden("仅限本人或服务机构", "Persons, or institution operators for them")
    return principal


async def _people_and_staff(principal: CurrentPrincipal) -> Principal:
    """People, and the staff whose work touches requests (not partners, not AED owners' staff)."""
    if principal.kind != "person" and not principal.has_role(*CITY_WIDE_STAFF, *DISTRICT_STAFF):
        raise Forbidden("无权访问养老服务需求", "No access to service requests")
    return principal


PersonOrOperator = Annotated[Principal, Depends(_person_or_operator)]
PeopleAndStaff = Annotated[Principal, Depends(_people_and_staff)]
Reviewer = Annotated[Principal, Depends(require_roles("district_officer", "institution_operator"))]
