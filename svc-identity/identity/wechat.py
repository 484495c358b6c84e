"""WeChat mini-program `code2session` over HTTP; the base URL is configuration (fake server in dev/tests)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx

from identity.settings import IdentitySettings
from servicekit.errors import Problem, ServiceUnavailable

INVALID_CODE = {40029, 40163, 40226}  # invalid, already used, high-risk user


TOKEN_INVALID = {40001, 40014, 42001}  # invalid or expired access_token: fetch a new one
NOT_SUBSCRIBED = 43101  # the user has not accepted (or has used up) this subscription message


class WechatSendError(Exception):
    def __init__(self, message: str, *, declined: bool = False) -> None:
        super().__init__(message)
        self.declined = declined


class WechatCodeRejected(Problem):
    status, type, title_zh, title_en = (
        401,
        "wechat-code-rejected",
        "微信登录凭证无效或已使用",
        "WeChat login code rejected",
    )


@dataclass(frozen=True)
class WechatSession:
    openid: str
    unionid: str | None


class WechatClient:
    def __init__(self, settings: IdentitySettings) -> None:
        self.settings = settings
        self._http = httpx.AsyncClient(base_url=settings.wechat_base_url, timeout=settings.wechat_timeout_s)
        self._access_token: tuple[str, float] | None = None  # (token, monotonic expiry)
        self._token_lock = asyncio.Lock()

    async def code_to_session(self, code: str) -> WechatSession:
        params = {
            "appid": self.settings.wechat_appid,
            "secret": self.settings.wechat_secret,
            "js_code": code,
            "grant_type": "authorization_code",
        }
        try:
            response = await self._http.get("/sns/jscode2session", params=params)
            body = response.json()
        except (httpx.HTTPError, ValueError):
            raise ServiceUnavailable("微信登录服务暂不可用", "WeChat login is unavailable") from None
        errcode = body.get("errcode") or 0
        if errcode in INVALID_CODE:
            raise WechatCodeRejected()
        if errcode or not body.get("openid"):
            raise ServiceUnavailable("微信登录服务暂不可用", "WeChat login is unavailable")
        # session_key is deliberately dropped: nothing here needs to decrypt WeChat payloads yet.
        return WechatSession(openid=body["openid"], unionid=body.get("unionid"))

    async def _token(self, *, renew: bool = False) -> str:
        """The app's access_token from `/cgi-bin/stable_token`, kept until shortly before it expires. The stable
        token is one for every caller, so identity's replicas share it; the older `/cgi-bin/token` made a new
        one per call and each replica's renewal would invalidate the others'. `renew` (WeChat said the token
        is invalid) asks again without forcing: another replica may have renewed it already."""
        async with self._token_lock:
            if self._access_token and not renew and self._access_token[1] > time.monotonic():
                return self._access_token[0]
            try:
                response = await self._http.post(
                    "/cgi-bin/stable_token",
                    json={
                        "grant_type": "client_credential",
                        "appid": self.settings.wechat_appid,
                        "secret": self.settings.wechat_secret,
                        "force_refresh": False,
                    },
                )
                body = response.json()
            except (httpx.HTTPError, ValueError) as exc:
                raise WechatSendError(f"access_token unavailable: {exc!r}") from None
            if not body.get("access_token"):
                raise WechatSendError(f"access_token refused: {body}")
            lifetime = int(body.get("expires_in", 7200))
            self._access_token = (body["access_token"], time.monotonic() + max(0, lifetime - 300))
            return body["access_token"]

    async def send_subscription_message(
        self, *, openid: str, template_id: str, data: dict[str, str], page: str | None
    ) -> None:
        """`subscribeMessage.send`; raises WechatSendError (declined=True when the person has not subscribed)."""
        payload = {
            "touser": openid,
            "template_id": template_id,
            "page": page or "",
            "data": {key: {"value": value} for key, value in data.items()},
        }
        for attempt in range(2):
            token = await self._token(renew=attempt > 0)
            try:
                response = await self._http.post(
                    "/cgi-bin/message/subscribe/send", params={"access_token": token}, json=payload
                )
                body = response.json()
            except (httpx.HTTPError, ValueError) as exc:
                raise WechatSendError(f"WeChat unreachable: {exc!r}") from None
            errcode = body.get("errcode") or 0
            if errcode == 0:
                return
            if errcode in TOKEN_INVALID and attempt == 0:
                continue
            raise WechatSendError(f"WeChat errcode {errcode}: {body.get('errmsg')}", declined=errcode == NOT_SUBSCRIBED)

    async def close(self) -> None:
        await self._http.aclose()
