"""A fake WeChat server over HTTP, for the dev stack and tests: `code2session`, the app access token and
subscription messages (`subscribeMessage.send`).

Any code `dev-<openid>` maps to that openid; anything else is rejected as WeChat does (errcode 40029).
The appid and secret must match what identity was configured with. Sent messages are kept in memory and
listed by `GET /_fake/subscribe-messages?touser=`; `POST /_fake/outage {"failures": n}` makes the next n
sends answer "system busy" (errcode -1), and openids listed in `POST /_fake/unsubscribed` get 43101.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from typing import Any

from fastapi import Body, FastAPI, Query

from devstack.fakes import serve


def create_app(appid: str = "wx-dev-appid", secret: str = "wx-dev-secret") -> FastAPI:
    app = FastAPI(title="fake WeChat")

    @app.get("/sns/jscode2session")
    async def code2session(
        appid_: str = Query(alias="appid"),
        secret_: str = Query(alias="secret"),
        js_code: str = Query(),
        grant_type: str = Query(),
    ) -> dict:
        if appid_ != appid or secret_ != secret:
            return {"errcode": 40013, "errmsg": "invalid appid"}
        if grant_type != "authorization_code" or not js_code.startswith("dev-") or len(js_code) <= 4:
            return {"errcode": 40029, "errmsg": "invalid code"}
        openid = js_code[4:]
        return {"openid": openid, "session_key": hashlib.sha256(openid.encode()).hexdigest()[:24]}

    tokens: dict[str, float] = {}
    counter = itertools.count(1)
    sent: list[dict] = []
    state: dict[str, Any] = {"failures": 0, "unsubscribed": set()}

    @app.get("/cgi-bin/token")
    async def access_token(
        grant_type: str = Query(), appid_: str = Query(alias="appid"), secret_: str = Query(alias="secret")
    ) -> dict:
        if grant_type != "client_credential" or appid_ != appid or secret_ != secret:
            return {"errcode": 40013, "errmsg": "invalid appid"}
        token = f"fake-access-token-{next(counter)}"
        tokens[token] = time.time() + 7200
        return {"access_token": token, "expires_in": 7200}

    @app.post("/cgi-bin/message/subscribe/send")
    async def subscribe_send(access_token: str = Query(), body: dict = Body()) -> dict:
        if tokens.get(access_token, 0) < time.time():
            return {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"}
        if state["failures"] > 0:
            state["failures"] -= 1
            return {"errcode": -1, "errmsg": "system error"}
        if not body.get("touser") or not body.get("template_id") or not isinstance(body.get("data"), dict):
            return {"errcode": 47003, "errmsg": "argument invalid"}
        if body["touser"] in state["unsubscribed"]:
            return {"errcode": 43101, "errmsg": "user refuse to accept the msg"}
        sent.append({**body, "received_at": time.time()})
        return {"errcode": 0, "errmsg": "ok", "msgid": next(counter)}

    @app.get("/_fake/subscribe-messages")
    async def messages(touser: str | None = None) -> list[dict]:
        return [m for m in sent if touser is None or m["touser"] == touser]

    @app.post("/_fake/outage")
    async def outage(body: dict = Body()) -> dict:
        state["failures"] = int(body.get("failures", 0))
        return {"failures": state["failures"]}

    @app.post("/_fake/unsubscribed")
    async def unsubscribed(body: dict = Body()) -> dict:
        state["unsubscribed"].update(body.get("openids", []))
        return {"unsubscribed": sorted(state["unsubscribed"])}

    @app.post("/_fake/expire-tokens")
    async def expire_tokens() -> dict:
        tokens.clear()
        return {"expired": True}

    return app


def _options(parser) -> None:
    parser.add_argument("--appid", default="wx-dev-appid")
    parser.add_argument("--secret", default="wx-dev-secret")


def main() -> None:
    serve(lambda args: create_app(args.appid, args.secret), port=8090, options=_options)


if __name__ == "__main__":
    main()
