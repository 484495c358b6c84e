"""A fake 120 dispatch system over HTTP: receives svc-aed's incident updates (`{"incident_id", "updates": [...]}`). `POST /_fake/down {"down": true}`
makes it answer 503 (an outage) until set back; `GET /_fake/updates?incident_id=` lists what arrived."""

from __future__ import annotations

from fastapi import Body, FastAPI
from fastapi.responses import JSONResponse

from devstack.fakes import serve


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

    return app


def main() -> None:
    serve(lambda _: create_app(), port=8091)


if __name__ == "__main__":
    main()
