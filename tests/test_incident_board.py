"""The live incidents board (急救值守): staff on duty follow every SOS of what they may see as it is raised,
answered and closed, over Server-Sent Events through the gateway; a change reaches the board when it commits
(PostgreSQL's notifications), and an officer of another district never hears of it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import AsyncIterator
from typing import Any

import httpx

from devstack import scenario


class Board:
    """One staff member's open board: every event it received, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def incidents(self, incident_id: str) -> list[dict]:
        return [data for name, data in self.events if name == "incident" and data["id"] == incident_id]

    async def read(self, response: httpx.Response) -> None:
        name = ""
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                name = line.removeprefix("event:").strip()
            elif line.startswith("data:"):
                self.events.append((name, json.loads(line.removeprefix("data:"))))


@contextlib.asynccontextmanager
async def _board(gateway: httpx.AsyncClient, username: str) -> AsyncIterator[Board]:
    board = Board()
    headers = await scenario.staff(gateway, username)
    async with gateway.stream("GET", "/api/v1/incidents/board", headers=headers, params={"max_s": 120}) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        reading = asyncio.create_task(board.read(response))
        try:
            yield board
        finally:
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await reading


async def _on_duty(gateway, helpers, person, position) -> None:
    async def on():  # svc-aed learns the responder role from identity's events
        response = await gateway.put(
            "/api/v1/responders/me/duty", headers=person.headers, json={"on_duty": True, "position": position}
        )
        return response.status_code == 200

    assert await helpers.eventually(on, timeout=30)


async def test_the_board_follows_an_sos_from_the_call_to_the_close(stack, gateway, helpers):
    spot = {"lat": round(random.uniform(39.90, 39.96), 5), "lon": round(random.uniform(116.45, 116.50), 5)}  # 朝阳
    responder = await scenario.responder(gateway)
    await _on_duty(gateway, helpers, responder, {"lat": spot["lat"] + 0.0005, "lon": spot["lon"]})
    caller = await scenario.resident(gateway, born=1975)
    officer = await scenario.staff(gateway, "officer-110105")

    async with _board(gateway, "officer-110105") as chaoyang, _board(gateway, "officer-110108") as haidian:

        async def both_open():
            return chaoyang.events and haidian.events

        assert await helpers.eventually(both_open, timeout=10)
        assert chaoyang.events[0][0] == "snapshot" and haidian.events[0][0] == "snapshot"

        opened = await gateway.post(
            "/api/v1/incidents",
            headers=caller.headers,
            json={"position": spot, "district": "110105", "address": "某小区5号楼门口", "note": "有人倒地"},
        )
        assert opened.status_code == 201, opened.text
        incident = opened.json()["id"]

        def shown(check):
            async def seen():
                return next((i for i in reversed(chaoyang.incidents(incident)) if check(i)), None)

            return seen

        raised = await helpers.eventually(shown(lambda i: i["state"] == "open" and i["alerts"]), timeout=10)
        assert raised, chaoyang.events
        assert responder.person_id in [a["responder_id"] for a in raised["alerts"]]
        assert "address" not in raised and raised["district"] == "110105"  # the exact address takes a reason

        accepted = await gateway.post(
            f"/api/v1/incidents/{incident}/responses", headers=responder.headers, json={"accept": True}
        )
        assert accepted.status_code == 200, accepted.text
        assert await helpers.eventually(shown(lambda i: i["accepted"] == 1), timeout=10)

        closed = await gateway.post(
            f"/api/v1/incidents/{incident}/close", headers=officer, json={"status": "recovered", "note": "已送医"}
        )
        assert closed.status_code == 200, closed.text
        done = await helpers.eventually(shown(lambda i: i["state"] == "closed"), timeout=10)
        assert done["outcome"] == "recovered"

        assert haidian.incidents(incident) == []  # another district's officer never hears of it
        listed = await gateway.get("/api/v1/incidents/open", headers=await scenario.staff(gateway, "admin"))
        assert incident not in [i["id"] for i in listed.json()]


async def test_the_board_is_for_staff_on_duty_only_and_refuses_bad_input(gateway):
    person = await scenario.resident(gateway, born=1980)
    assert (await gateway.get("/api/v1/incidents/board", headers=person.headers)).status_code == 403
    auditor = await scenario.staff(gateway, "auditor")
    assert (await gateway.get("/api/v1/incidents/open", headers=auditor)).status_code == 403
    assert (await gateway.get("/api/v1/incidents/board")).status_code == 401
    officer = await scenario.staff(gateway, "officer-110105")
    for bad in ("1", "7200", "soon", ""):
        refused = await gateway.get("/api/v1/incidents/board", headers=officer, params={"max_s": bad})
        assert refused.status_code == 422, (bad, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
    # A short stream ends by itself: its snapshot, then the close.
    ended = await gateway.get("/api/v1/incidents/board", headers=officer, params={"max_s": 5}, timeout=20)
    assert ended.status_code == 200 and ended.text.startswith("event: snapshot\ndata: [")
