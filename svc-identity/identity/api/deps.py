from __future__ import annotations

from fastapi import Request

from identity.settings import IdentitySettings
from identity.wechat import WechatClient
from servicekit.deps import DbSession as Session

__all__ = ["Session", "settings_of", "wechat_of"]


def settings_of(request: Request) -> IdentitySettings:
    return request.app.state.runtime.settings


def wechat_of(request: Request) -> WechatClient:
    return request.app.state.wechat
