""" "Mine" lists in cursor pages: an elder's own requests, those of the elders a person is a confirmed direct
relative of, and the ones a volunteer booked — each newest first, pages that never repeat or skip."""

from devstack import scenario


async def _mine(gateway, person, **params) -> dict:
    response = await gateway.get("/api/v1/requests/mine", headers=person.headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def _all_pages(gateway, person, **params) -> list[str]:
    ids, cursor = [], None
    while True:
        page = await _mine(gateway, person, limit=1, **params, **({"cursor": cursor} if cursor else {}))
        ids += [r["id"] for r in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return ids


async def test_an_elder_a_relative_and_a_volunteer_each_find_theirs(gateway, helpers):
    elder = await scenario.elder_with_coins(gateway, 600)
    daughter = await scenario.resident(gateway, born=1975)
    await scenario.confirmed_child(gateway, daughter, elder)
    first = await scenario.approved_request(gateway, elder, hours_ahead=20)
    second = await scenario.approved_request(gateway, elder, hours_ahead=30)

    assert await _all_pages(gateway, elder) == [second, first], "newest first, each once"
    open_only = await _mine(gateway, elder, state="open")
    assert {r["id"] for r in open_only["items"]} == {first, second}

    async def followed():
        return await _all_pages(gateway, daughter, role="relative") == [second, first]

    assert await helpers.eventually(followed, timeout=30), "the relative follows the elder's requests"
    assert (await _mine(gateway, daughter))["items"] == [], "none of her own"

    volunteer = await scenario.volunteer(gateway)
    await scenario.known_volunteer(gateway, volunteer)
    booked = await gateway.post(f"/api/v1/requests/{first}/booking", headers=volunteer.headers)
    assert booked.status_code == 201, booked.text
    assert await _all_pages(gateway, volunteer, role="volunteer") == [first]
    assert (await _mine(gateway, volunteer, role="volunteer", state="open"))["items"] == []

    stranger = await scenario.resident(gateway, born=1960)
    assert (await _mine(gateway, stranger, role="relative"))["items"] == []
    officer = await scenario.staff(gateway, "officer-110105")
    assert (await gateway.get("/api/v1/requests/mine", headers=officer)).status_code == 403
    wrong_list = (await _mine(gateway, elder, limit=1))["next_cursor"]
    reused = await gateway.get(
        "/api/v1/requests/mine", headers=daughter.headers, params={"role": "relative", "cursor": wrong_list}
    )
    assert reused.status_code == 400, "a cursor of another list is refused"


async def test_a_confirmed_relative_publishes_follows_and_cancels_for_the_elder(gateway, helpers):
    from datetime import UTC, datetime, timedelta

    elder = await scenario.elder_with_coins(gateway, 300)
    son = await scenario.resident(gateway, born=1972)
    await scenario.confirmed_child(gateway, son, elder)
    start = (datetime.now(UTC) + timedelta(hours=30)).replace(microsecond=0)
    body = {
        "category": "emotional_comfort",
        "item_id": scenario.CHAT_ITEM,
        "position": scenario.PLACE,
        "address": "朝阳区幸福里8号",
        "district": "110105",
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(minutes=60)).isoformat(),
        "for_elder": elder.person_id,
    }

    stranger = await scenario.resident(gateway, born=1980)
    refused = await gateway.post("/api/v1/requests", headers=stranger.headers, json=body)
    assert refused.status_code == 403, "only a confirmed relative acts for the elder"

    async def published():  # matching hears of the kinship from identity's events
        response = await gateway.post("/api/v1/requests", headers=son.headers, json=body)
        assert response.status_code in (201, 403), response.text
        return response if response.status_code == 201 else None

    created = await helpers.eventually(published, timeout=30)
    assert created is not None and created.json()["elder_id"] == elder.person_id
    request_id = created.json()["id"]

    async def held():
        seen = (await gateway.get(f"/api/v1/requests/{request_id}", headers=son.headers)).json()
        return seen if seen["state"] == "awaiting_review" else None

    seen = await helpers.eventually(held, timeout=30)
    assert seen["address"] == "朝阳区幸福里8号", "the relative sees what the elder sees"
    assert seen["history"][0]["acting_for"] == elder.person_id and seen["history"][0]["actor"] == son.person_id
    account = (await gateway.get("/api/v1/accounts/me", headers=elder.headers)).json()
    assert account["held"] == 60, "the elder's coins are held"
    assert (await gateway.get(f"/api/v1/requests/{request_id}", headers=stranger.headers)).status_code == 404

    cancelled = await gateway.post(
        f"/api/v1/requests/{request_id}/cancel", headers=son.headers, json={"reason": "父亲住院，暂不需要"}
    )
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "closed", cancelled.text

    async def released():
        return (await gateway.get("/api/v1/accounts/me", headers=elder.headers)).json()["held"] == 0

    assert await helpers.eventually(released, timeout=30)


async def test_a_request_changes_before_anyone_books_it_and_is_reviewed_again_when_time_or_place_moves(
    gateway, helpers
):
    from datetime import datetime, timedelta

    elder = await scenario.elder_with_coins(gateway, 300)
    request_id = await scenario.approved_request(gateway, elder, hours_ahead=30)
    path = f"/api/v1/requests/{request_id}"
    before = (await gateway.get(path, headers=elder.headers)).json()

    notes = await gateway.patch(path, headers=elder.headers, json={"notes": "请带上老花镜"})
    assert notes.status_code == 200, notes.text
    assert (notes.json()["state"], notes.json()["notes"]) == ("open", "请带上老花镜"), "notes alone: still open"

    start = datetime.fromisoformat(before["starts_at"]) + timedelta(hours=2)
    moved = await gateway.patch(path, headers=elder.headers, json={"starts_at": start.isoformat()})
    assert moved.status_code == 200, moved.text
    body = moved.json()
    assert body["state"] == "awaiting_review", "a new time goes back to review"
    assert datetime.fromisoformat(body["ends_at"]) - datetime.fromisoformat(body["starts_at"]) == (
        datetime.fromisoformat(before["ends_at"]) - datetime.fromisoformat(before["starts_at"])
    ), "the length stays"
    assert body["history"][-1]["action"] == "edited"
    account = (await gateway.get("/api/v1/accounts/me", headers=elder.headers)).json()
    assert account["held"] == 60, "the hold is unchanged"
    past = await gateway.patch(path, headers=elder.headers, json={"starts_at": "2020-01-01T08:00:00+08:00"})
    assert past.status_code == 422
    assert (await gateway.patch(path, headers=elder.headers, json={"ends_at": start.isoformat()})).status_code == 422

    stranger = await scenario.resident(gateway, born=1980)
    assert (await gateway.patch(path, headers=stranger.headers, json={"notes": "x"})).status_code == 404

    officer = await scenario.staff(gateway, "officer-110105")
    reviewed = await gateway.post(path + "/review", headers=officer, json={"decision": "approve", "note": "已核实"})
    assert reviewed.json()["state"] == "open"
    volunteer = await scenario.volunteer(gateway)
    await scenario.known_volunteer(gateway, volunteer)
    assert (await gateway.post(path + "/booking", headers=volunteer.headers)).status_code == 201
    booked = await gateway.patch(path, headers=elder.headers, json={"address": "朝阳区幸福里9号"})
    assert booked.status_code == 409, "once booked, a change is a cancellation and a new request"
