"""A fake SMS provider over HTTP (the shape of common Chinese SMS APIs: sign, template code, parameters).
`GET /_fake/sms?phone=` lists what was sent."""
from __future__ import annotations

import argparse
import itertools

import uvicorn
from fastapi import Body, FastAPI


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

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8092)
    args = parser.parse_args()
    uvicorn.run(create_app(), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
