"""Who may do what to a request, from the caller's token."""

from __future__ import annotations

import uuid

from servicekit.auth import Principal

CITY_WIDE_STAFF = ("city_admin", "auditor")
DISTRICT_STAFF = ("district_officer", "institution_operator")


def person_of(principal: Principal) -> uuid.UUID | None:
    """The person the call is for: the caller, or the person an institution operator acts for."""
    if principal.acting_for:
        return uuid.UUID(principal.acting_for)
    if principal.kind == "person":
        return uuid.UUID(principal.id)
    return None


def staff_in_scope(principal: Principal, district: str) -> bool:
    """City-wide staff see every district; district officers and institution operators their own."""
    if principal.kind != "staff" or principal.acting_for:
        return False
    if principal.has_role(*CITY_WIDE_STAFF):
        return True
    return principal.has_role(*DISTRICT_STAFF) and principal.district == district


def may_review(principal: Principal, district: str) -> bool:
    """An institution of the district or the district office (经审核)."""
    return (
        principal.kind == "staff"
        and not principal.acting_for
        and principal.district == district
        and principal.has_role(*DISTRICT_STAFF)
    )


def institution_of(principal: Principal) -> uuid.UUID | None:
    return uuid.UUID(principal.institution) if principal.institution else None
