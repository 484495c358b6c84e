"""A fake WeChat server over HTTP, for the dev stack and tests: `code2session`, the app access token and
subscription messages (`subscribeMessage.send`).

Any code `dev-<openid>` maps to that openid; anything else is rejected as WeChat does (errcode 40029).
The appid and secret must match what identity was configured with. Access tokens come from `/cgi-bin/token`
(each call invalidates the previous token within 5 minutes, as WeChat's does) or `/cgi-bin/stable_token`
(one token shared by every caller until its last 5 minutes). Sent messages are kept in memory and
listed by `GET /_fake/subscribe-messages?touser=`; `POST /_fake/outage {"failures": n}` makes the next n
sends answer "system busy" (errcode -1), and openids listed in `POST /_fake/unsubscribed` get 43101.
`POST /_fake/slow {"touser": openid, "seconds": s, "requests": n}` makes it answer the next n sends to that openid
only after s seconds; each kept message says how many such slow sends were still unanswered when it was taken
(`_slow_calls_open`), and `GET /_fake/slow` how many are open now.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from typing import Any

from fastapi import Body, FastAPI, Query

from devstack.fakes import SlowAnswers, serve


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
    slow = SlowAnswers()
    state: dict[str, Any] = {"failures": 0, "unsubscribed": set()}

    def mint() -> str:
        token = f"fake-access-token-{next(counter)}"
        tokens[token] = time.time() + 7200
        state["current"] = token
        return token

    @app.get("/cgi-bin/token")
    async def access_token(
        grant_type: str = Query(), appid_: str = Query(alias="appid"), secret_: str = Query(alias="secret")
    ) -> dict:
        """The old way: every call makes a new token and the previous one dies within 5 minutes — two holders
        (two identity replicas) keep invalidating each other."""
        if grant_type != "client_credential" or appid_ != appid or secret_ != secret:
            return {"errcode": 40013, "errmsg": "invalid appid"}
        previous = state.get("current")
        if previous in tokens:
            tokens[previous] = min(tokens[previous], time.time() + 300)
        return {"access_token": mint(), "expires_in": 7200}

    @app.post("/cgi-bin/stable_token")
    async def stable_token(body: dict = Body()) -> dict:
        """The same token for every caller while it has more than 5 minutes left; a new one only then (or on
        force_refresh, the old one living on 30 seconds) — safe with several holders."""
        if body.get("grant_type") != "client_credential" or body.get("appid") != appid or body.get("secret") != secret:
            return {"errcode": 40013, "errmsg": "invalid appid"}
        current = state.get("current")
        left = tokens.get(current, 0) - time.time() if current else 0
        if body.get("force_refresh") and current in tokens:
            tokens[current] = min(tokens[current], time.time() + 30)
        elif left > 300:
            return {"access_token": current, "expires_in": int(left)}
        return {"access_token": mint(), "expires_in": 7200}

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
        await slow.answer(body["touser"])
        sent.append({**body, "received_at": time.time(), "_slow_calls_open": slow.open})
        return {"errcode": 0, "errmsg": "ok", "msgid": next(counter)}

    @app.get("/_fake/subscribe-messages")
    async def messages(touser: str | None = None) -> list[dict]:
        return [m for m in sent if touser is None or m["touser"] == touser]

    @app.post("/_fake/outage")
    async def outage(body: dict = Body()) -> dict:
        state["failures"] = int(body.get("failures", 0))
        return {"failures": state["failures"]}

    @app.post("/_fake/slow")
    async def slow_down(body: dict = Body()) -> dict:
        touser = body["touser"]
        slow.add(lambda call: call == touser, seconds=float(body["seconds"]), requests=int(body.get("requests", 1)))
        return {"rules": len(slow.rules)}

    @app.get("/_fake/slow")
    async def slow_now() -> dict:
        return {"open": slow.open}

    @app.post("/_fake/unsubscribed")
    async def unsubscribed(body: dict = Body()) -> dict:
        state["unsubscribed"].update(body.get("openids", []))
        return {"unsubscribed": sorted(state["unsubscribed"])}

    @app.post("/_fake/expire-tokens")
    async def expire_tokens() -> dict:
        tokens.clear()
        state.pop("current", None)
        return {"expired": True}

    return app


def _options(parser) -> None:
    parser.add_argument("--appid", default="wx-dev-appid")
    parser.add_argument("--secret", default="wx-dev-secret")


def main() -> None:
    serve(lambda args: create_app(args.appid, args.secret), port=8090, options=_options)


if __name__ == "__main__":
    main()
