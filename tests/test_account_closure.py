"""Closing an account (注销, PIPL): what has not started is cancelled at once, nothing new starts, the person may
change their mind within the cooling-off period; after it their personal data is erased, what must be kept
stays under the bare id, and the coins move by the rule they chose — none created, none lost."""

import json

from devstack import scenario

PLACE = scenario.PLACE


async def _earned(gateway, helpers, clock, elder, volunteer) -> str:
    """The volunteer serves the elder an hour: 60 minutes earned; the completed request's id."""
    request_id = await scenario.approved_request(gateway, elder, hours_ahead=2)
    assert (await gateway.post(f"/api/v1/requests/{request_id}/booking", headers=volunteer.headers)).status_code == 201
    clock.advance(hours=1, minutes=55)  # early: the minutes count from the booked start
    assert (
        await gateway.post(
            f"/api/v1/requests/{request_id}/check-in", headers=volunteer.headers, json={"position": PLACE}
        )
    ).status_code == 200
    clock.advance(hours=1, minutes=10)  # late: they count to the booked end
    assert (
        await gateway.post(
            f"/api/v1/requests/{request_id}/check-out", headers=volunteer.headers, json={"position": PLACE}
        )
    ).status_code == 200

    async def paid():
        return (await gateway.get("/api/v1/accounts/me", headers=volunteer.headers)).json()["balance"] == 60

    assert await helpers.eventually(paid, timeout=30)
    return request_id


async def test_closing_cancels_what_waits_erases_after_the_cooling_off_and_moves_every_coin(
    stack, gateway, helpers, clock, sql
):
    elder = await scenario.elder_with_coins(gateway, 600)
    volunteer = await scenario.volunteer(gateway)
    parent = await scenario.resident(gateway, born=1962, name="李父")
    await scenario.confirmed_child(gateway, child=volunteer, parent=parent)
    await scenario.known_volunteer(gateway, volunteer)
    served = await _earned(gateway, helpers, clock, elder, volunteer)
    waiting = await scenario.approved_request(gateway, elder, hours_ahead=30, address="朝阳区幸福里8号")
    assert (await gateway.post(f"/api/v1/requests/{waiting}/booking", headers=volunteer.headers)).status_code == 201

    # The elder closes: coins to the welfare account. What waits is cancelled, its hold released.
    asked = await gateway.post("/api/v1/me/closure", headers=elder.headers, json={"coins_to": "welfare"})
    assert asked.status_code == 202 and asked.json()["state"] == "requested", asked.text
    assert (
        await gateway.post("/api/v1/me/closure", headers=elder.headers, json={"coins_to": "welfare"})
    ).status_code == 409

    async def cancelled():
        seen = (await gateway.get(f"/api/v1/requests/{waiting}", headers=elder.headers)).json()
        return seen if seen["state"] == "closed" else None

    assert (await helpers.eventually(cancelled, timeout=30))["close_reason"] == "cancelled"

    async def released():
        account = (await gateway.get("/api/v1/accounts/me", headers=elder.headers)).json()
        return account if account["held"] == 0 else None

    assert (await helpers.eventually(released, timeout=30))["balance"] == 540
    again = await gateway.post(
        "/api/v1/requests",
        headers=elder.headers,
        json={
            "category": "emotional_comfort",
            "item_id": scenario.CHAT_ITEM,
            "position": PLACE,
            "address": "朝阳区幸福里8号",
            "district": "110105",
            "starts_at": "2027-01-05T02:00:00Z",
            "ends_at": "2027-01-05T03:00:00Z",
        },
    )
    assert again.status_code == 409 and again.json()["type"].endswith("/account-closing")

    # The volunteer asks, changes their mind, asks again — coins to their confirmed parent (not a stranger).
    assert (
        await gateway.post(
            "/api/v1/me/closure",
            headers=volunteer.headers,
            json={"coins_to": "relative", "relative_id": elder.person_id},
        )
    ).status_code == 422
    assert (
        await gateway.post("/api/v1/me/closure", headers=volunteer.headers, json={"coins_to": "relative"})
    ).status_code == 422
    first = await gateway.post(
        "/api/v1/me/closure", headers=volunteer.headers, json={"coins_to": "relative", "relative_id": parent.person_id}
    )
    assert first.status_code == 202, first.text
    withdrawn = await gateway.post("/api/v1/me/closure/withdrawal", headers=volunteer.headers)
    assert withdrawn.json()["state"] == "withdrawn"
    assert (
        await gateway.post(
            "/api/v1/me/closure",
            headers=volunteer.headers,
            json={"coins_to": "relative", "relative_id": parent.person_id},
        )
    ).status_code == 202
    other_elder = await scenario.elder_with_coins(gateway, 120)
    elsewhere = await scenario.approved_request(gateway, other_elder, hours_ahead=40)

    async def refused():  # matching hears of the closure from identity's event
        answer = await gateway.post(f"/api/v1/requests/{elsewhere}/booking", headers=volunteer.headers)
        assert answer.status_code in (201, 409), answer.text
        return answer.status_code == 409 and answer.json()["type"].endswith("/account-closing")

    assert await helpers.eventually(refused, timeout=30)

    # After the cooling-off period: erased.
    clock.advance(hours=24 * 8)
    erased = "SELECT count(*) FROM persons WHERE id = ANY(CAST(:p AS uuid[])) AND erased_at IS NOT NULL"
    people = [elder.person_id, volunteer.person_id]
    assert await helpers.eventually(lambda: sql["identity"].scalar(erased, p=people), timeout=30) == 2
    for table in ("real_names", "wechat_accounts", "contact_phones", "notifications"):
        assert (
            await sql["identity"].scalar(
                f"SELECT count(*) FROM {table} WHERE person_id = ANY(CAST(:p AS uuid[]))", p=people
            )
            == 0
        ), table
    again_in = await scenario.sign_in(gateway, elder.openid)  # the same WeChat user starts afresh
    assert again_in.person_id != elder.person_id

    # Every coin moved by its rule: the elder's granted coins back to the district, the volunteer's earned ones
    # to their parent; the accounts stay, empty, with their entries.
    closed = "SELECT payload FROM outbox WHERE event_type = 'timebank.ledger.account.closed' AND key = :p"
    elder_closed = await helpers.eventually(lambda: sql["ledger"].scalar(closed, p=elder.person_id), timeout=30)
    assert json.loads(elder_closed)["data"] | {"closed_at": None} == {
        "person_id": elder.person_id,
        "to_welfare": 0,
        "to_relative": 0,
        "relative_id": None,
        "to_district": 540,
        "district": "110105",
        "closed_at": None,
    }
    volunteer_closed = await helpers.eventually(lambda: sql["ledger"].scalar(closed, p=volunteer.person_id), timeout=30)
    assert (
        json.loads(volunteer_closed)["data"]["to_relative"],
        json.loads(volunteer_closed)["data"]["relative_id"],
    ) == (60, parent.person_id)
    left = "SELECT coalesce(sum(balance), 0) FROM accounts WHERE owner_person_id = ANY(CAST(:p AS uuid[]))"
    assert await sql["ledger"].scalar(left, p=people) == 0
    parent = await scenario.sign_in(gateway, parent.openid)
    account = (await gateway.get("/api/v1/accounts/me", headers=parent.headers)).json()
    assert {p["origin"]: p["balance"] for p in account["by_origin"]}["gifted"] == 60

    # Matching keeps the served request's place (志愿北京 claims need it) and blanks the cancelled one's.
    admin = await scenario.staff(gateway, "admin")

    async def blanked():  # matching hears of the erasure from identity's event
        seen = (await gateway.get(f"/api/v1/requests/{waiting}", headers=admin)).json()
        return seen["address"] == "（已删除）"

    assert await helpers.eventually(blanked, timeout=30)
    kept = (await gateway.get(f"/api/v1/requests/{served}", headers=admin)).json()
    assert kept["address"] == "朝阳区幸福里8号"
