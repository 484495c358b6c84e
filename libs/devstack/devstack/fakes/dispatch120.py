"""A fake 120 dispatch system over HTTP: receives svc-aed's incident updates (`{"incident_id", "updates": [...]}`)
and checks each request's signature as 120 would — HMAC-SHA256 of "<timestamp>.<body>" with the shared secret,
the timestamp within 5 minutes of its clock — written from svc-aed's README, not from its code. A request that
fails is answered 401 and counted (`GET /_fake/refused`). `POST /_fake/down {"down": true}` makes it answer 503
(an outage) until set back. `POST /_fake/slow {"containing": text, "seconds": s, "requests": n}` makes it answer
the next n requests whose body contains `text` only after s seconds (a slow 120). `GET /_fake/updates?incident_id=`
lists what arrived, each update with `_slow_calls_open`: how many slow calls were still unanswered when it was
taken; `GET /_fake/slow` says how many are open now."""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import time

from fastapi import Body, FastAPI, Request
from fastapi.responses import JSONResponse

from devstack.fakes import SlowAnswers, serve

DEV_SECRET = "dev-only-120-webhook-secret"
TOLERANCE_S = 300


def refusal(secret: str, timestamp: str | None, signature: str | None, body: bytes, *, now: float) -> str | None:
    """Why a request is refused, or None when it is signed by the holder of `secret` within the window."""
    if not timestamp or not signature:
        return "unsigned"
    if not timestamp.isdigit() or abs(now - int(timestamp)) > TOLERANCE_S:
        return "timestamp outside the window"
    expected = "v1=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        return "bad signature"
    return None


def create_app(secret: str = DEV_SECRET) -> FastAPI:
    app = FastAPI(title="fake 120")
    received: list[dict] = []
    refused: list[str] = []
    state = {"down": False}
    slow = SlowAnswers()

    @app.post("/incident-updates")
    async def incident_update(request: Request):
        body = await request.body()
        why = refusal(
            secret,
            request.headers.get("X-Timebank-Timestamp"),
            request.headers.get("X-Timebank-Signature"),
            body,
            now=time.time(),
        )
        if why is not None:
            refused.append(why)
            return JSONResponse({"error": why}, status_code=401)
        if state["down"]:
            return JSONResponse({"error": "unavailable"}, status_code=503)
        update = json.loads(body)
        await slow.answer(body)
        open_now = slow.open
        received.extend(
            {**u, "incident_id": update["incident_id"], "_slow_calls_open": open_now} for u in update["updates"]
        )
        return {"ack": True, "received": len(update["updates"])}

    @app.get("/_fake/updates")
    async def updates(incident_id: str | None = None) -> list[dict]:
        return [u for u in received if incident_id is None or u.get("incident_id") == incident_id]

    @app.get("/_fake/refused")
    async def refusals() -> list[str]:
        return refused

    @app.post("/_fake/down")
    async def down(body: dict = Body()) -> dict:
        state["down"] = bool(body.get("down"))
        return state

    @app.post("/_fake/slow")
    async def slow_down(body: dict = Body()) -> dict:
        text = str(body["containing"]).encode()
        slow.add(lambda call: text in call, seconds=float(body["seconds"]), requests=int(body.get("requests", 1)))
        return {"rules": len(slow.rules)}

    @app.get("/_fake/slow")
    async def slow_now() -> dict:
        return {"open": slow.open}

    return app


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--secret", default=DEV_SECRET, help="shared with svc-aed (AED_DISPATCH_WEBHOOK_SECRET)")


def main() -> None:
    serve(lambda args: create_app(args.secret), port=8091, options=_options)


if __name__ == "__main__":
    main()
