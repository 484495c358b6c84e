"""Follow-ups (回访): a low rating, a late cancellation or a no-show opens one for the district; an institution
operator takes it, reads the elder's contact (audited) while it is theirs, and closes it with a note."""

import json

from devstack import scenario

PLACE = scenario.PLACE


async def _served_and_rated(stack, gateway, clock, score: int):
    elder = await scenario.elder_with_coins(gateway, 600)
    phone = await scenario.proven_phone(stack, gateway, elder)
    volunteer = await scenario.volunteer(gateway)
    await scenario.known_volunteer(gateway, volunteer)
    request_id = await scenario.approved_request(gateway, elder, hours_ahead=2)
    assert (await gateway.post(f"/api/v1/requests/{request_id}/booking", headers=volunteer.headers)).status_code == 201
    clock.advance(hours=2)
    for step in ("check-in", "check-out"):
        if step == "check-out":
            clock.advance(hours=1)
        done = await gateway.post(
            f"/api/v1/requests/{request_id}/{step}", headers=volunteer.headers, json={"position": PLACE}
        )
        assert done.status_code == 200, done.text
    rated = await gateway.post(
        f"/api/v1/requests/{request_id}/rating",
        headers=elder.headers,
        json={"score": score, "comment": "来晚了，态度一般"},
    )
    assert rated.status_code == 201 and rated.json()["flagged"] is (score <= 2)
    return elder, phone, request_id


async def _follow_ups_of(gateway, headers, request_id, **params) -> list[dict]:
    found, cursor = [], None
    while True:
        page = (
            await gateway.get(
                "/api/v1/follow-ups",
                headers=headers,
                params=params | {"limit": 50} | ({"cursor": cursor} if cursor else {}),
            )
        ).json()
        found += [f for f in page["items"] if f["request_id"] == request_id]
        if (cursor := page["next_cursor"]) is None:
            return found


async def test_a_low_rating_is_followed_up_by_the_operator_who_takes_it(stack, gateway, helpers, clock, sql):
    elder, phone, request_id = await _served_and_rated(stack, gateway, clock, score=1)
    officer = await scenario.staff(gateway, "officer-110105")
    operator = await scenario.staff(gateway, "institution")
    [opened] = await _follow_ups_of(gateway, officer, request_id, state="open")
    assert (opened["cause"], opened["detail"], opened["assigned_to"]) == (
        "low_rating",
        "评分 1/5：来晚了，态度一般",
        None,
    )
    follow_up = f"/api/v1/follow-ups/{opened['id']}"
    elsewhere = await scenario.staff(gateway, "officer-110108")
    assert await _follow_ups_of(gateway, elsewhere, request_id) == []
    assert (await gateway.get(follow_up, headers=elsewhere)).status_code == 404
    assert (await gateway.get("/api/v1/follow-ups", headers=elder.headers)).status_code == 403
    assert (await gateway.post(follow_up + "/assignment", headers=officer)).status_code == 403  # institutions call

    contact = f"/api/v1/people/{elder.person_id}/contact"
    refused = await gateway.get(contact, headers=operator, params={"follow_up": opened["id"]})
    assert refused.status_code == 403 and refused.json()["type"].endswith("/not-your-follow-up")
    taken = await gateway.post(follow_up + "/assignment", headers=operator)
    assert taken.status_code == 200 and taken.json()["state"] == "assigned"
    assert [f["id"] for f in await _follow_ups_of(gateway, operator, request_id, mine="true")] == [opened["id"]]

    async def readable():  # identity learns who took it from matching's event
        answer = await gateway.get(contact, headers=operator, params={"follow_up": opened["id"]})
        return answer.json() if answer.status_code == 200 else None

    shown = await helpers.eventually(readable, timeout=30)
    assert shown == {"person_id": elder.person_id, "name": "王秀英", "phone": phone}
    accessed = await sql["identity"].rows(
        "SELECT payload FROM outbox WHERE key = :p AND event_type = 'timebank.identity.personal-data.accessed'",
        p=elder.person_id,
    )
    [read] = [json.loads(p)["data"] for (p,) in accessed]
    assert read["fields"] == ["name", "phone"] and opened["id"] in read["purpose"] and phone not in str(read)
    assert (
        await gateway.get(
            contact,
            headers=operator,
            params={"follow_up": opened["id"]},
        )
    ).status_code == 200

    # The district office takes it off them: the contact closes; taken again and closed with a note, it stays so.
    released = await gateway.post(follow_up + "/release", headers=officer)
    assert released.json()["state"] == "open" and released.json()["assigned_to"] is None

    async def closed_to_them():
        answer = await gateway.get(contact, headers=operator, params={"follow_up": opened["id"]})
        return answer.status_code == 403

    assert await helpers.eventually(closed_to_them, timeout=30)
    assert (await gateway.post(follow_up + "/assignment", headers=operator)).status_code == 200
    assert (await gateway.post(follow_up + "/close", headers=operator, json={"outcome": "x"})).status_code == 422
    closed = await gateway.post(follow_up + "/close", headers=operator, json={"outcome": "已电话回访，老人表示理解"})
    assert closed.status_code == 200 and closed.json()["state"] == "closed"
    assert closed.json()["outcome"] == "已电话回访，老人表示理解"
    assert (await gateway.post(follow_up + "/close", headers=officer, json={"outcome": "重复"})).status_code == 409
    assert (await gateway.post(follow_up + "/assignment", headers=operator)).status_code == 409
    assert await helpers.eventually(closed_to_them, timeout=30)
    assert [f["id"] for f in await _follow_ups_of(gateway, officer, request_id, state="closed")] == [opened["id"]]


async def test_a_good_rating_opens_none(stack, gateway, clock):
    _, _, rated_well = await _served_and_rated(stack, gateway, clock, score=4)
    assert await _follow_ups_of(gateway, await scenario.staff(gateway, "officer-110105"), rated_well) == []


async def test_a_late_cancellation_and_a_no_show_open_one_a_timely_cancellation_none(stack, gateway, helpers, clock):
    officer = await scenario.staff(gateway, "officer-110105")
    elder = await scenario.elder_with_coins(gateway, 600)
    volunteer = await scenario.volunteer(gateway)
    await scenario.known_volunteer(gateway, volunteer)
    soon = await scenario.approved_request(gateway, elder, hours_ahead=1)  # within the late-cancellation window
    assert (await gateway.post(f"/api/v1/requests/{soon}/booking", headers=volunteer.headers)).status_code == 201
    assert (
        await gateway.post(f"/api/v1/requests/{soon}/cancel", headers=volunteer.headers, json={"reason": "临时加班"})
    ).status_code == 200
    [late] = await _follow_ups_of(gateway, officer, soon)
    assert (late["cause"], late["detail"]) == ("late_cancellation", "志愿者迟取消：临时加班")

    later = await scenario.approved_request(gateway, elder, hours_ahead=30)  # cancelled in good time: nothing owed
    assert (await gateway.post(f"/api/v1/requests/{later}/booking", headers=volunteer.headers)).status_code == 201
    assert (
        await gateway.post(f"/api/v1/requests/{later}/cancel", headers=volunteer.headers, json={"reason": "时间冲突"})
    ).status_code == 200
    assert await _follow_ups_of(gateway, officer, later) == []

    absent = await scenario.approved_request(gateway, elder, hours_ahead=3)
    assert (await gateway.post(f"/api/v1/requests/{absent}/booking", headers=volunteer.headers)).status_code == 201
    clock.advance(hours=4)  # the volunteer never signed in: a no-show

    async def no_show_followed_up():
        found = await _follow_ups_of(gateway, officer, absent)
        return found if found else None

    [missed] = await helpers.eventually(no_show_followed_up, timeout=30)
    assert (missed["cause"], missed["detail"]) == ("no_show", "志愿者未签到")
