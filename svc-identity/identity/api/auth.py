from __future__ import annotations

import base64
import binascii
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from pydantic import BaseModel, Field

from identity.api.deps import Session, settings_of, wechat_of
from identity.api.schemas import RefreshRequest, TokenResponse, WechatLoginRequest, WechatLoginResponse
from identity.domain import keys, offline, refresh, sign_in
from servicekit.auth import CurrentPrincipal, Jwks, Principal, require_roles
from servicekit.errors import Forbidden, Problem, Unauthorized, UnprocessableInput
from servicekit.openapi import problem_responses

router = APIRouter(tags=["auth"])


@router.post(
    "/api/v1/auth/wechat-login",
    response_model=WechatLoginResponse,
    responses=problem_responses(401, 403),
    summary="Exchange a wx.login code for tokens; creates the person on first login",
)
async def wechat_login(body: WechatLoginRequest, request: Request, session: Session) -> WechatLoginResponse:
    wechat_session = await wechat_of(request).code_to_session(body.code)
    settings = settings_of(request)
    result = await sign_in.wechat_login(session, settings, wechat_session)
    return WechatLoginResponse(**_token_fields(result.tokens), person_id=result.person_id, new_person=result.created)


def _token_fields(pair: refresh.TokenPair) -> dict:
    return {
        "access_token": pair.access.access_token,
        "expires_in": pair.access.expires_in,
        "refresh_token": pair.refresh_token,
        "refresh_expires_in": pair.refresh_expires_in,
    }


def _basic_client(request: Request) -> tuple[str, str] | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        client_id, _, secret = base64.b64decode(value).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized("客户端凭证格式错误", "Malformed client credentials") from None
    return client_id, secret


@router.post(
    "/api/v1/auth/token",
    response_model=TokenResponse,
    responses=problem_responses(401, 403),
    summary="OAuth2 token endpoint: password grant for staff, client_credentials for partners",
)
async def token(
    request: Request,
    session: Session,
    grant_type: Annotated[str, Form()],
    username: Annotated[str | None, Form(max_length=64)] = None,
    password: Annotated[str | None, Form(max_length=256)] = None,
    client_id: Annotated[str | None, Form(max_length=64)] = None,
    client_secret: Annotated[str | None, Form(max_length=256)] = None,
    scope: Annotated[str | None, Form(max_length=512)] = None,
) -> TokenResponse:
    settings = settings_of(request)
    if grant_type == "password":
        if not username or not password:
            raise Problem("需要用户名和密码", "username and password are required", error="invalid_request")
        pair = await sign_in.staff_password_grant(
            session, request.app.state.runtime.db, settings, username=username, password=password
        )
        return TokenResponse(**_token_fields(pair))
    elif grant_type == "client_credentials":
        basic = _basic_client(request)
        cid, secret = basic if basic else (client_id, client_secret)
        if not cid or not secret:
            raise sign_in.InvalidClient()
        issued = await sign_in.client_credentials_grant(
            session, settings, client_id=cid, client_secret=secret, requested_scopes=(scope or "").split()
        )
    else:
        raise Problem("不支持的授权类型", "Unsupported grant_type", error="unsupported_grant_type")
    return TokenResponse(access_token=issued.access_token, expires_in=issued.expires_in)


@router.post(
    "/api/v1/auth/refresh",
    response_model=TokenResponse,
    responses=problem_responses(401, 403),
    summary="Exchange a refresh token for new tokens (rotation; a reused token ends the sign-in)",
)
async def refresh_tokens(body: RefreshRequest, request: Request, session: Session) -> TokenResponse:
    pair = await refresh.rotate(
        session, request.app.state.runtime.db, settings_of(request), refresh_token=body.refresh_token
    )
    return TokenResponse(**_token_fields(pair))


class SignOutRequest(BaseModel):
    refresh_token: str | None = Field(None, max_length=200, description="the sign-in to end (this device's)")
    everywhere: bool = Field(False, description="end every sign-in of yours, on every device")


class SignOutResponse(BaseModel):
    sessions_ended: int


@router.post(
    "/api/v1/auth/sign-out",
    response_model=SignOutResponse,
    summary="Sign out: this device's sign-in (its refresh token) or every one of yours (everywhere)",
)
async def sign_out(body: SignOutRequest, principal: CurrentPrincipal, session: Session) -> SignOutResponse:
    if principal.kind not in ("person", "staff"):
        raise Forbidden("合作方凭证无需退出登录", "Partner tokens have no sign-in to end")
    if body.refresh_token is None and not body.everywhere:
        raise UnprocessableInput("请提供 refresh_token 或 everywhere", "Give refresh_token, or everywhere: true")
    ended = await refresh.sign_out(
        session, subject=principal.subject, refresh_token=body.refresh_token, everywhere=body.everywhere
    )
    return SignOutResponse(sessions_ended=ended)


@router.get("/.well-known/jwks.json", response_model=Jwks, summary="Public token signing keys (JWKS)")
async def jwks(request: Request, session: Session) -> Jwks:
    return Jwks.model_validate(await keys.public_jwks(session, settings_of(request)))


class ActForRequest(BaseModel):
    person_id: uuid.UUID


@router.post(
    "/api/v1/auth/act-for",
    response_model=TokenResponse,
    responses=problem_responses(404),
    summary="An institution operator's token acting for a person the institution represents offline",
)
async def act_for(
    body: ActForRequest,
    request: Request,
    session: Session,
    operator: Annotated[Principal, Depends(require_roles("institution_operator"))],
) -> TokenResponse:
    if operator.acting_for:
        raise Forbidden("代办令牌不能再代办", "An acting-for token cannot act for someone else")
    issued = await offline.act_for(session, settings_of(request), operator=operator, person_id=body.person_id)
    return TokenResponse(access_token=issued.access_token, expires_in=issued.expires_in)
