"""Audit end to end over Kafka: a three-minute "service" raises an alert; officers see only their district's;
an auditor confirms it; the sanction reverses the coins in the ledger and stops the volunteer's bookings;
the audit log holds the whole story and verifies."""

from devstack import scenario

PLACE = scenario.PLACE


async def _every_page(gateway, path, headers, *, limit: int = 100, **params) -> list[dict]:
    """Every page of a list, in order."""
    found, cursor = [], None
    while True:
        page = (
            await gateway.get(
                path, headers=headers, params=params | ({"cursor": cursor} if cursor else {}) | {"limit": limit}
            )
        ).json()
        found += page["items"]
        if (cursor := page["next_cursor"]) is None:
            return found


async def _all_alerts(gateway, headers, **params) -> list[dict]:
    return await _every_page(gateway, "/api/v1/alerts", headers, **params)


async def _balance(gateway, person) -> int:
    return (await gateway.get("/api/v1/accounts/me", headers=person.headers)).json()["balance"]


async def test_confirmed_fraud_reverses_the_coins_and_stops_the_bookings(stack, gateway, helpers, clock):
    elder = await scenario.elder_with_coins(gateway, 300)
    volunteer = await scenario.volunteer(gateway)

    await scenario.known_volunteer(gateway, volunteer)
    request_id = await scenario.approved_request(gateway, elder, hours_ahead=1)
    later = await scenario.approved_request(gateway, elder, hours_ahead=30)
    assert (await gateway.post(f"/api/v1/requests/{request_id}/booking", headers=volunteer.headers)).status_code == 201
    clock.advance(minutes=59)
    assert (
        await gateway.post(
            f"/api/v1/requests/{request_id}/check-in", headers=volunteer.headers, json={"position": PLACE}
        )
    ).status_code == 200
    clock.advance(minutes=4)
    out = await gateway.post(
        f"/api/v1/requests/{request_id}/check-out", headers=volunteer.headers, json={"position": PLACE}
    )
    assert out.status_code == 200 and out.json()["request_state"] == "completed"
    served = out.json()["booking"]["minutes"]
    assert 2 <= served <= 3

    async def paid():
        return await _balance(gateway, volunteer) == served

    assert await helpers.eventually(paid, timeout=30)

    auditor = await scenario.staff(gateway, "auditor")

    async def raised():
        alerts = await _all_alerts(gateway, auditor, rule="implausible_duration")
        return next((a for a in alerts if volunteer.person_id in a["people"]), None)

    alert = await helpers.eventually(raised, timeout=30)
    assert alert is not None and alert["request_ids"] == [request_id] and alert["district"] == "110105"
    assert alert["severity"] == "medium" and alert["status"] == "open" and alert["evidence"]

    haidian = await scenario.staff(gateway, "officer-110108")
    assert alert["id"] not in [a["id"] for a in await _all_alerts(gateway, haidian)]
    assert (await gateway.get("/api/v1/alerts?district=110105", headers=haidian)).status_code == 403
    assert (await gateway.get(f"/api/v1/alerts/{alert['id']}", headers=haidian)).status_code == 403
    chaoyang = await scenario.staff(gateway, "officer-110105")
    assert alert["id"] in [a["id"] for a in await _all_alerts(gateway, chaoyang)]
    assert (
        await gateway.post(
            f"/api/v1/alerts/{alert['id']}/decision", headers=chaoyang, json={"decision": "confirm", "note": "x" * 3}
        )
    ).status_code == 403

    decided = await gateway.post(
        f"/api/v1/alerts/{alert['id']}/decision",
        headers=auditor,
        json={
            "decision": "confirm",
            "note": "电话回访：老人称志愿者未实际提供服务",
            "person_ids": [volunteer.person_id],
        },
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["alert"]["status"] == "confirmed" and len(decided.json()["sanction_ids"]) == 1
    assert decided.json()["alert"]["decision"]["decided_by"]
    again = await gateway.post(
        f"/api/v1/alerts/{alert['id']}/decision", headers=auditor, json={"decision": "dismiss", "note": "改判"}
    )
    assert again.status_code == 409

    async def reversed_():
        return await _balance(gateway, volunteer) == 0 and await _balance(gateway, elder) == 300

    assert await helpers.eventually(reversed_, timeout=30)

    async def refused():
        response = await gateway.post(f"/api/v1/requests/{later}/booking", headers=volunteer.headers)
        return response if response.status_code == 403 else None

    refusal = await helpers.eventually(refused, timeout=30)
    assert refusal is not None and refusal.json()["type"].endswith("/not-an-eligible-volunteer")

    log = (await gateway.get("/api/v1/audit-log", params={"subject": request_id}, headers=auditor)).json()["items"]
    types = [r["type"].rsplit(".", 2)[-2] + "." + r["type"].rsplit(".", 1)[-1] for r in log]
    assert {"request.submitted", "request.booked", "attendance.recorded", "service.completed"} <= set(types)
    verification = (await gateway.get("/api/v1/audit-log/verification", headers=auditor)).json()
    assert verification["ok"] is True and verification["records"] > len(log), verification
    assert verification["unjudged"] == [] and 0 < verification["judged_seq"] <= verification["records"]
