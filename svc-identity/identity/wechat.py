"""WeChat mini-program `code2session` over HTTP; the base URL is configuration (fake server in dev/tests)."""
from __future__ import annotations

from dataclasses import dataclass

import httpx

from servicekit.errors import Problem, ServiceUnavailable
from identity.settings import IdentitySettings

INVALID_CODE = {40029, 40163, 40226}  # invalid, already used, high-risk user


class WechatCodeRejected(Problem):
    status, type, title_zh, title_en = 401, "wechat-code-rejected", "微信登录凭证无效或已使用", "WeChat login code rejected"


@dataclass(frozen=True)
class WechatSession:
    openid: str
    unionid: str | None


class WechatClient:
    def __init__(self, settings: IdentitySettings) -> None:
        self.settings = settings
        self._http = httpx.AsyncClient(base_url=settings.wechat_base_url, timeout=settings.wechat_timeout_s)

    async def code_to_session(self, code: str) -> WechatSession:
        params = {"appid": self.settings.wechat_appid, "secret": self.settings.wechat_secret,
                  "js_code": code, "grant_type": "authorization_code"}
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

    async def close(self) -> None:
        await self._http.aclose()
