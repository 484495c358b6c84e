"""The staff console's sign-in: the access token goes to the page (kept in memory only), the refresh token into a
cookie the page's script cannot read (HttpOnly), sent only to these paths and never from another site
(SameSite=Strict), over TLS only in production (Secure). A suspended staff member's refresh fails, so their
console session ends at its next refresh."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Cookie, Request, Response
from pydantic import BaseModel, Field

from identity.api.deps import Session, settings_of
from identity.domain import refresh, sign_in
from identity.settings import IdentitySettings
from servicekit.openapi import problem_responses

router = APIRouter(tags=["auth"])
PATH = "/api/v1/auth/console"
COOKIE = "tb_console_refresh"


class ConsoleSignIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class ConsoleToken(BaseModel):
    access_token: str
    token_type: str = "Bearer"
    expires_in: int = Field(description="seconds; refresh a little before")


def _keep(response: Response, pair: refresh.TokenPair, settings: IdentitySettings) -> ConsoleToken:
    response.set_cookie(
        COOKIE,
        pair.refresh_token,
        max_age=pair.refresh_expires_in,
        path=PATH,
        httponly=True,
        secure=settings.environment == "production",
        samesite="strict",
    )
    response.headers["Cache-Control"] = "no-store"
    return ConsoleToken(access_token=pair.access.access_token, expires_in=pair.access.expires_in)


def _forget(response: Response, settings: IdentitySettings) -> None:
    response.delete_cookie(
        COOKIE, path=PATH, httponly=True, secure=settings.environment == "production", samesite="strict"
    )


@router.post(
    f"{PATH}/sign-in",
    response_model=ConsoleToken,
    responses=problem_responses(401, 403, 423),
    summary="Staff console sign-in with username and password; the refresh token is set as an HttpOnly cookie",
)
async def console_sign_in(body: ConsoleSignIn, request: Request, response: Response, session: Session) -> ConsoleToken:
    settings = settings_of(request)
    pair = await sign_in.staff_password_grant(
        session, request.app.state.runtime.db, settings, username=body.username, password=body.password
    )
    return _keep(response, pair, settings)


@router.post(
    f"{PATH}/refresh",
    response_model=ConsoleToken,
    responses=problem_responses(401),
    summary="A new access token for the console from its refresh cookie (rotated on every use)",
)
async def console_refresh(
    request: Request,
    response: Response,
    session: Session,
    token: Annotated[str | None, Cookie(alias=COOKIE, max_length=100)] = None,
) -> ConsoleToken:
    settings = settings_of(request)
    if not token:
        raise refresh.RefreshRejected()
    pair = await refresh.rotate(session, request.app.state.runtime.db, settings, refresh_token=token)
    return _keep(response, pair, settings)


class ConsoleSignedOut(BaseModel):
    sessions_ended: int


@router.post(
    f"{PATH}/sign-out",
    response_model=ConsoleSignedOut,
    summary="End the console's sign-in (its refresh cookie) and clear the cookie",
)
async def console_sign_out(
    request: Request,
    response: Response,
    session: Session,
    token: Annotated[str | None, Cookie(alias=COOKIE, max_length=100)] = None,
) -> ConsoleSignedOut:
    ended = await refresh.end_sign_in(session, refresh_token=token) if token else 0
    _forget(response, settings_of(request))
    return ConsoleSignedOut(sessions_ended=ended)
