"""Who may pass svc-aed's routes (FastAPI dependencies shared by its routers), and the service's settings."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from aed.settings import AedSettings
from servicekit.auth import CurrentPrincipal, Principal
from servicekit.errors import Forbidden


def settings_of(request: Request) -> AedSettings:
    return request.app.state.runtime.settings


async def _person(principal: CurrentPrincipal) -> Principal:
    if principal.kind != "person" or principal.acting_for:
        raise Forbidden("仅限急救志愿者本人", "Responders themselves only")
    return principal


async def _dispatcher(principal: CurrentPrincipal) -> Principal:
    """120's system (partner scope `emergency-120`) or staff (city admins, district officers)."""
    if principal.kind == "partner" and "emergency-120" in principal.scopes:
        return principal
    if principal.kind == "staff" and principal.has_role("city_admin", "district_officer"):
        return principal
    raise Forbidden("仅限120调度系统或工作人员", "120 dispatch or staff only")


async def _reporter(principal: CurrentPrincipal) -> Principal:
    if principal.kind == "person" or (principal.kind == "partner" and "emergency-120" in principal.scopes):
        return principal
    raise Forbidden("请由本人或120调度系统呼救", "A signed-in person or 120 dispatch")


Person = Annotated[Principal, Depends(_person)]
Dispatcher = Annotated[Principal, Depends(_dispatcher)]
Reporter = Annotated[Principal, Depends(_reporter)]
