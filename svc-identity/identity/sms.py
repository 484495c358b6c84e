"""An SMS provider over HTTP (sign, template code, parameters — the shape of common Chinese SMS APIs); the
base URL is configuration (a fake server in dev/tests)."""

from __future__ import annotations

import httpx

from identity.settings import IdentitySettings


class SmsError(Exception):
    pass


class SmsClient:
    def __init__(self, settings: IdentitySettings) -> None:
        self.settings = settings
        self._http = httpx.AsyncClient(base_url=settings.sms_base_url, timeout=settings.sms_timeout_s)

    async def send(self, *, phone: str, template: str, params: dict[str, str]) -> None:
        code = self.settings.sms_templates.get(template)
        if code is None:
            raise SmsError(f"no SMS template for {template}")
        try:
            response = await self._http.post(
                "/sms/send",
                json={
                    "access_key": self.settings.sms_access_key,
                    "phone_number": phone,
                    "sign_name": self.settings.sms_sign_name,
                    "template_code": code,
                    "template_param": params,
                },
            )
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise SmsError(f"SMS provider unreachable: {exc!r}") from None
        if body.get("code") != "OK":
            raise SmsError(f"SMS refused: {body}")

    async def close(self) -> None:
        await self._http.aclose()
