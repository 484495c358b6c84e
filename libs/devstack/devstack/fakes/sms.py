"""A fake SMS provider over HTTP (the shape of common Chinese SMS APIs: sign, template code, parameters).
`GET /_fake/sms?phone=` lists what was sent."""

from __future__ import annotations

import itertools

from fastapi import Body, FastAPI

from devstack.fakes import serve


def create_app(access_key: str = "sms-dev-key") -> FastAPI:
    app = FastAPI(title="fake SMS")
    sent: list[dict] = []
    ids = itertools.count(1)

    @app.post("/sms/send")
    async def send(body: dict = Body()) -> dict:
        if body.get("access_key") != access_key:
            return {"code": "InvalidAccessKeyId", "message": "bad key"}
        if not body.get("phone_number") or not body.get("template_code"):
            return {"code": "isv.INVALID_PARAMETERS", "message": "phone_number and template_code are required"}
        sent.append(body)
        return {"code": "OK", "biz_id": str(next(ids))}

    @app.get("/_fake/sms")
    async def listed(phone: str | None = None) -> list[dict]:
        return [m for m in sent if phone is None or m["phone_number"] == phone]

    return app


def main() -> None:
    serve(lambda _: create_app(), port=8092)


if __name__ == "__main__":
    main()
