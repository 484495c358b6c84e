from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field


class WechatLoginRequest(BaseModel):
    code: str = Field(min_length=1, max_length=128, description="The code from wx.login()")


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "Bearer"
    expires_in: int = Field(description="Seconds until the access token expires")
    refresh_token: str | None = Field(None, description="Single use: each refresh returns a new one")
    refresh_expires_in: int | None = None


class RefreshRequest(BaseModel):
    refresh_token: str = Field(min_length=20, max_length=100)


class WechatLoginResponse(TokenResponse):
    person_id: uuid.UUID
    new_person: bool


class RealNameRequest(BaseModel):
    name: str = Field(
        min_length=2,
        max_length=30,
        pattern=r"^[\u4e00-\u9fff\u3400-\u4dbfA-Za-z·• ]+$",
        description="The name on the identity card",
    )
    id_number: str = Field(min_length=18, max_length=18, description="居民身份证号, 18 characters")


class RealNameResponse(BaseModel):
    verified: bool = True
    name_masked: str
    id_number_masked: str = Field(description="e.g. 110105********123X")
    age: int
    verified_at: datetime


class MeResponse(BaseModel):
    id: str
    kind: str
    roles: list[str]
    district: str | None = Field(description="a person's declared district of residence; a staff member's district")
    acting_for: str | None
    display_name: str | None = Field(None, description="a staff member's name, as the console shows it")
    phone_masked: str | None = None
    real_name: RealNameResponse | None = Field(None, description="Absent until real-name verification")
