from __future__ import annotations

import uuid

from pydantic import BaseModel, Field


class WechatLoginRequest(BaseModel):
    code: str = Field(min_length=1, max_length=128, description="The code from wx.login()")


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "Bearer"
    expires_in: int = Field(description="Seconds until the access token expires")


class WechatLoginResponse(TokenResponse):
    person_id: uuid.UUID
    new_person: bool


class MeResponse(BaseModel):
    id: str
    kind: str
    roles: list[str]
    district: str | None
    acting_for: str | None
