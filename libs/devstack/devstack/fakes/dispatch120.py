"""A fake 120 dispatch system over HTTP: receives svc-aed's incident updates (`{"incident_id", "updates": [...]}`). `POST /_fake/down {"down": true}`
makes it answer 503 (an outage) until set back; `GET /_fake/updates?incident_id=` lists what arrived."""
from __future__ import annotations

import argparse

import uvicorn
from fastapi import Body, FastAPI
from fastapi.responses import JSONResponse


def create_app() -> FastAPI:
    app = FastAPI(title="fake 120")
    received: list[dict] = []
    state = {"down": False}

    @app.post("/incident-updates")
    async def incident_update(body: dict = Body()):
        if state["down"]:
            return JSONResponse({"error": "unavailable"}, status_code=503)
        received.extend({**u, "incident_id": body["incident_id"]} for u in body["updates"])
        return {"ack": True, "received": len(body["updates"])}

    @app.get("/_fake/updates")
    async def updates(incident_id: str | None = None) -> list[dict]:
        return [u for u in received if incident_id is None or u.get("incident_id") == incident_id]

    @app.post("/_fake/down")
    async def down(body: dict = Body()) -> dict:
        state["down"] = bool(body.get("down"))
        return state

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8091)
    args = parser.parse_args()
    uvicorn.run(create_app(), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
