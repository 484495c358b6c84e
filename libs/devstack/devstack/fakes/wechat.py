"""A fake WeChat `code2session` server over HTTP, for the dev stack and tests.

Any code `dev-<openid>` maps to that openid; anything else is rejected as WeChat does (errcode 40029).
The appid and secret must match what identity was configured with.
"""
from __future__ import annotations

import argparse
import hashlib

import uvicorn
from fastapi import FastAPI, Query


def create_app(appid: str = "wx-dev-appid", secret: str = "wx-dev-secret") -> FastAPI:
    app = FastAPI(title="fake WeChat")

    @app.get("/sns/jscode2session")
    async def code2session(appid_: str = Query(alias="appid"), secret_: str = Query(alias="secret"),
                           js_code: str = Query(), grant_type: str = Query()) -> dict:
        if appid_ != appid or secret_ != secret:
            return {"errcode": 40013, "errmsg": "invalid appid"}
        if grant_type != "authorization_code" or not js_code.startswith("dev-") or len(js_code) <= 4:
            return {"errcode": 40029, "errmsg": "invalid code"}
        openid = js_code[4:]
        return {"openid": openid, "session_key": hashlib.sha256(openid.encode()).hexdigest()[:24]}

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--appid", default="wx-dev-appid")
    parser.add_argument("--secret", default="wx-dev-secret")
    args = parser.parse_args()
    uvicorn.run(create_app(args.appid, args.secret), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
