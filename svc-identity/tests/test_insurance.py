"""志愿北京 reports registration and insurance; only its partner token may; the volunteer sees the state."""

from datetime import date, timedelta

from servicekit.events import CloudEvent


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


async def _partner(gateway, client_id: str) -> str:
    response = await gateway.post(
        "/api/v1/auth/token", data={"grant_type": "client_credentials"}, auth=(client_id, "demo-partner-secret-2026")
    )
    return response.json()["access_token"]


async def test_volunteer_beijing_records_insurance_and_the_volunteer_sees_it(gateway, helpers, sql):
    volunteer = await helpers.login(gateway)
    path = f"/partner/v1/volunteers/{volunteer['person_id']}/insurance"
    today = date.today()
    report = {
        "registered": True,
        "registration_id": "ZYBJ-1",
        "insured": True,
        "policy_number": "P-1",
        "valid_from": (today - timedelta(days=30)).isoformat(),
        "valid_until": (today + timedelta(days=300)).isoformat(),
    }
    assert (await gateway.get("/api/v1/me/insurance", headers=bearer(volunteer["access_token"]))).json() is None

    assert (await gateway.put(path, headers=bearer(volunteer["access_token"]), json=report)).status_code == 403
    assert (
        await gateway.put(path, headers=bearer(await _partner(gateway, "emergency-120")), json=report)
    ).status_code == 403
    partner = bearer(await _partner(gateway, "volunteer-beijing"))
    reversed_dates = report | {"valid_from": report["valid_until"], "valid_until": report["valid_from"]}
    assert (await gateway.put(path, headers=partner, json=reversed_dates)).status_code == 422
    assert (await gateway.put(path, headers=partner, json=report | {"valid_until": None})).status_code == 422
    unknown = "/partner/v1/volunteers/00000000-0000-0000-0000-000000000001/insurance"
    assert (await gateway.put(unknown, headers=partner, json=report)).status_code == 404

    recorded = await gateway.put(path, headers=partner, json=report)
    assert recorded.status_code == 200 and recorded.json()["insured_today"] is True
    mine = (await gateway.get("/api/v1/me/insurance", headers=bearer(volunteer["access_token"]))).json()
    assert (mine["registered"], mine["insured"], mine["insured_today"]) == (True, True, True)

    lapsed = report | {"valid_until": (today - timedelta(days=1)).isoformat()}
    assert (await gateway.put(path, headers=partner, json=lapsed)).json()["insured_today"] is False
    rows = await sql["identity"].rows(
        "SELECT payload FROM outbox WHERE key = :k AND event_type = 'timebank.identity.insurance.recorded' ORDER BY id",
        k=volunteer["person_id"],
    )
    events = [CloudEvent.model_validate_json(p) for (p,) in rows]
    assert [e.data["valid_until"] for e in events] == [report["valid_until"], lapsed["valid_until"]]
    assert events[0].actor == "volunteer-beijing"
    history = await sql["identity"].scalar(
        "SELECT jsonb_array_length(history) FROM volunteer_insurance WHERE person_id = :p", p=volunteer["person_id"]
    )
    assert history == 2
