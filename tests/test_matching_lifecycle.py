"""What happens as time passes, and group activities: a no-show ends the booking and reopens the request,
a forgotten sign-out is closed at the end of the window (paid for the window), an unbooked request expires
and its coins come back; several volunteers share a group activity; nobody books a relative's request."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from devstack import scenario

BEIJING = ZoneInfo("Asia/Shanghai")
PLACE = scenario.PLACE
GROUP = "00000000-0000-4000-8000-0000000c0401"  # 文体活动组织: up to 10 volunteers
CHORES = "00000000-0000-4000-8000-0000000c0201"  # 助餐助洁 (assistance)


def _hours_until_beijing(hour: int) -> float:
    """Hours from now until tomorrow at `hour`:00, Beijing time."""
    now = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai"))
    return (
        (now + timedelta(days=1)).replace(hour=hour, minute=0, second=0, microsecond=0) - now
    ).total_seconds() / 3600


async def _until(gateway, helpers, request_id, headers, condition, timeout: float = 30) -> dict:
    async def reached():
        body = (await gateway.get(f"/api/v1/requests/{request_id}", headers=headers)).json()
        return body if condition(body) else None

    body = await helpers.eventually(reached, timeout=timeout)
    assert body is not None, "condition never reached"
    return body


async def _balance(gateway, person) -> tuple[int, int]:
    account = (await gateway.get("/api/v1/accounts/me", headers=person.headers)).json()
    return account["balance"], account["held"]


async def test_a_no_show_reopens_the_request_and_an_unserved_request_expires_releasing_the_coins(
    stack, gateway, helpers, clock
):
    elder = await scenario.elder_with_coins(gateway, 300)
    volunteer = await scenario.volunteer(gateway)
    await scenario.known_volunteer(gateway, volunteer)
    request_id = await scenario.approved_request(gateway, elder, hours_ahead=2, minutes=120)
    assert (await gateway.post(f"/api/v1/requests/{request_id}/booking", headers=volunteer.headers)).status_code == 201

    clock.advance(hours=2, minutes=50)  # 50 minutes after the start, nobody signed in
    reopened = await _until(
        gateway, helpers, request_id, elder.headers, lambda r: r["bookings"] and r["bookings"][0]["status"] == "no_show"
    )
    assert reopened["state"] == "open"
    record = (await gateway.get("/api/v1/volunteers/me/record", headers=volunteer.headers)).json()
    assert record["no_shows"] == 1

    clock.advance(hours=1, minutes=15)  # past the end of the window
    closed = await _until(gateway, helpers, request_id, elder.headers, lambda r: r["state"] == "closed")
    assert closed["close_reason"] == "expired"

    async def released():
        return await _balance(gateway, elder) == (300, 0)

    assert await helpers.eventually(released, timeout=30)


async def test_a_forgotten_sign_out_is_closed_at_the_end_of_the_window(stack, gateway, helpers, clock):
    elder = await scenario.elder_with_coins(gateway, 300)
    volunteer = await scenario.volunteer(gateway)
    await scenario.known_volunteer(gateway, volunteer)
    request_id = await scenario.approved_request(gateway, elder, hours_ahead=1, minutes=60)
    assert (await gateway.post(f"/api/v1/requests/{request_id}/booking", headers=volunteer.headers)).status_code == 201
    clock.advance(minutes=55)
    assert (
        await gateway.post(
            f"/api/v1/requests/{request_id}/check-in", headers=volunteer.headers, json={"position": PLACE}
        )
    ).status_code == 200
    clock.advance(hours=2, minutes=10)  # an hour past the end and more: the sign-out window has closed
    done = await _until(gateway, helpers, request_id, elder.headers, lambda r: r["state"] == "completed")
    assert done["bookings"][0]["check_out_method"] == "window_closed" and done["bookings"][0]["minutes"] == 60

    async def paid():
        return await _balance(gateway, volunteer) == (60, 0)

    assert await helpers.eventually(paid, timeout=30)


async def test_a_group_activity_takes_several_volunteers_and_pays_each(stack, gateway, helpers, clock):
    elder = await scenario.elder_with_coins(gateway, 600)
    team = [await scenario.volunteer(gateway) for _ in range(3)]
    for volunteer in team:
        await scenario.known_volunteer(gateway, volunteer)
    request_id = await scenario.approved_request(
        gateway, elder, hours_ahead=3, minutes=90, item=GROUP, category="culture_sports", volunteers=2
    )
    assert (await _balance(gateway, elder))[1] == 180  # the window's minutes for each volunteer needed

    answers = await asyncio.gather(
        *(gateway.post(f"/api/v1/requests/{request_id}/booking", headers=v.headers) for v in team)
    )
    assert sorted(a.status_code for a in answers) == [201, 201, 409]
    booked = [v for v, a in zip(team, answers, strict=True) if a.status_code == 201]
    assert next(a for a in answers if a.status_code == 409).json()["type"].endswith("/fully-booked")

    clock.advance(hours=3)
    for volunteer in booked:
        assert (
            await gateway.post(
                f"/api/v1/requests/{request_id}/check-in", headers=volunteer.headers, json={"position": PLACE}
            )
        ).status_code == 200
    clock.advance(minutes=45)
    first = await gateway.post(
        f"/api/v1/requests/{request_id}/check-out", headers=booked[0].headers, json={"position": PLACE}
    )
    assert first.json()["request_state"] == "in_progress"  # the other is still serving
    clock.advance(minutes=45)
    last = await gateway.post(
        f"/api/v1/requests/{request_id}/check-out", headers=booked[1].headers, json={"position": PLACE}
    )
    assert last.json()["request_state"] == "completed"
    minutes = [first.json()["booking"]["minutes"], last.json()["booking"]["minutes"]]

    async def paid():
        return [(await _balance(gateway, v))[0] for v in booked] == minutes

    assert await helpers.eventually(paid, timeout=30)
    assert await _balance(gateway, elder) == (600 - sum(minutes), 0)


async def test_nobody_books_a_direct_relatives_request(stack, gateway, helpers):
    elder = await scenario.elder_with_coins(gateway, 300)
    son = await scenario.volunteer(gateway)
    await scenario.known_volunteer(gateway, son)
    await scenario.confirmed_child(gateway, son, elder)
    request_id = await scenario.approved_request(gateway, elder, hours_ahead=20)

    async def refused():
        response = await gateway.post(f"/api/v1/requests/{request_id}/booking", headers=son.headers)
        assert response.status_code in (201, 403), response.text
        if response.status_code == 201:  # matching had not yet heard of the link: undo and try again
            await gateway.post(
                f"/api/v1/requests/{request_id}/cancel", headers=son.headers, json={"reason": "测试重试"}
            )
            return None
        return response

    response = await helpers.eventually(refused, timeout=30)
    assert response is not None and response.json()["type"].endswith("/own-or-relatives-request")
    nearby = (await gateway.get(f"/api/v1/requests?near={PLACE['lat']},{PLACE['lon']}", headers=son.headers)).json()
    assert request_id not in [r["id"] for r in nearby]


async def test_special_elders_come_first_in_search_and_in_the_review_queue(stack, gateway, helpers):
    special = await scenario.elder_with_coins(gateway, 300)
    ordinary = await scenario.elder_with_coins(gateway, 300)  # granted while special, then no longer special
    officer = await scenario.staff(gateway, "officer-110105")
    cleared = await gateway.post(
        f"/api/v1/people/{ordinary.person_id}/special-groups",
        headers=officer,
        json={"categories": [], "reason": "复核：不再符合"},
    )
    assert cleared.status_code == 200, cleared.text
    volunteer = await scenario.volunteer(gateway)
    await scenario.known_volunteer(gateway, volunteer)
    far = {"lat": PLACE["lat"] + 0.012, "lon": PLACE["lon"]}  # about 1.3 km north
    start = (datetime.now(UTC) + timedelta(hours=50)).replace(microsecond=0)

    async def publish(elder, position) -> str:
        response = await gateway.post(
            "/api/v1/requests",
            headers=elder.headers,
            json={
                "category": "legal_aid",
                "item_id": "00000000-0000-4000-8000-0000000c0601",
                "position": position,
                "address": "朝阳区幸福里8号",
                "district": "110105",
                "starts_at": start.isoformat(),
                "ends_at": (start + timedelta(hours=1)).isoformat(),
            },
        )
        assert response.status_code == 201, response.text
        return response.json()["id"]

    async def ordinary_is_not_special():  # matching hears of the cleared categories over Kafka
        request_id = await publish(ordinary, PLACE)
        body = (await gateway.get(f"/api/v1/requests/{request_id}", headers=ordinary.headers)).json()
        if body["priority"]:
            await gateway.post(
                f"/api/v1/requests/{request_id}/cancel", headers=ordinary.headers, json={"reason": "重发"}
            )
            return None
        return request_id

    near_id = await helpers.eventually(ordinary_is_not_special, timeout=30)
    assert near_id is not None
    far_id = await publish(special, far)
    for request_id, elder in ((near_id, ordinary), (far_id, special)):
        await _until(gateway, helpers, request_id, elder.headers, lambda r: r["state"] == "awaiting_review")

    queue, cursor = [], None  # page by page, two at a time: the cursor carries the priority across pages
    while True:
        page = (
            await gateway.get(
                "/api/v1/requests/queue",
                headers=officer,
                params={"state": "awaiting_review", "limit": 2, **({"cursor": cursor} if cursor else {})},
            )
        ).json()
        queue += page["items"]
        if (cursor := page["next_cursor"]) is None:
            break
    assert len({r["id"] for r in queue}) == len(queue), "no request twice"
    flags = [r["priority"] for r in queue]
    assert flags == sorted(flags, reverse=True) and far_id in [r["id"] for r in queue]  # special elders first
    ids = [r["id"] for r in queue]
    assert near_id not in ids or ids.index(far_id) < ids.index(near_id)  # submitted later, reviewed first
    for request_id in (near_id, far_id):
        assert (
            await gateway.post(f"/api/v1/requests/{request_id}/review", headers=officer, json={"decision": "approve"})
        ).status_code == 200
    found = (
        await gateway.get(
            f"/api/v1/requests?near={PLACE['lat']},{PLACE['lon']}&radius_m=2000&category=legal_aid",
            headers=volunteer.headers,
        )
    ).json()
    ranked = [r["id"] for r in found if r["id"] in (near_id, far_id)]
    assert ranked == [far_id, near_id]
    assert [r["distance_m"] for r in found if r["id"] == near_id] == [0]


async def test_a_minor_books_only_alongside_a_confirmed_guardian(stack, gateway, helpers):
    elder = await scenario.elder_with_coins(gateway, 600)
    guardian = await scenario.volunteer(gateway)
    minor = await scenario.resident(gateway, born=datetime.now(UTC).year - 15, name="钱同学")
    institution = await scenario.staff(gateway, "institution")
    trained = await gateway.post(
        f"/api/v1/people/{minor.person_id}/training",
        headers=institution,
        json={"kind": "volunteer", "completed_on": "2026-11-01"},
    )
    assert trained.status_code == 201 and trained.json()["roles"] == []  # no guardian yet: not a volunteer
    claimed = await gateway.post("/api/v1/guardianships", headers=guardian.headers, json={"minor_id": minor.person_id})
    confirmed = await gateway.post(f"/api/v1/guardianships/{claimed.json()['id']}/confirm", headers=minor.headers)
    assert confirmed.json()["status"] == "confirmed"
    minor = await scenario.sign_in(gateway, minor.openid)  # the token carries the volunteer role now
    for volunteer in (guardian, minor):
        await scenario.known_volunteer(gateway, volunteer)
    # Minors serve only suitable services, by day (08:00–20:00 Beijing): tomorrow 10:00 is, 21:00 is not.
    night = await scenario.approved_request(
        gateway,
        elder,
        hours_ahead=_hours_until_beijing(21),
        minutes=60,
        item=GROUP,
        category="culture_sports",
        volunteers=2,
    )
    chores = await scenario.approved_request(
        gateway, elder, hours_ahead=_hours_until_beijing(10), minutes=60, item=CHORES, category="assistance"
    )
    request_id = await scenario.approved_request(
        gateway,
        elder,
        hours_ahead=_hours_until_beijing(10),
        minutes=90,
        item=GROUP,
        category="culture_sports",
        volunteers=2,
    )
    booking = f"/api/v1/requests/{request_id}/booking"

    async def not_for_minors(other: str):
        answer = await gateway.post(f"/api/v1/requests/{other}/booking", headers=minor.headers)
        assert answer.status_code in (201, 403, 409), answer.text
        return answer.json()["type"].endswith("/not-for-minors") if answer.status_code == 403 else None

    for other in (night, chores):
        assert await helpers.eventually(lambda other=other: not_for_minors(other), timeout=30)

    async def refused_alone():  # matching learns the minor's age and guardian from identity's events
        alone = await gateway.post(booking, headers=minor.headers)
        assert alone.status_code in (201, 409), alone.text
        return alone.json()["type"].endswith("/guardian-must-accompany") if alone.status_code == 409 else None

    assert await helpers.eventually(refused_alone, timeout=30)
    assert (await gateway.post(booking, headers=guardian.headers)).status_code == 201

    async def accompanied():  # the guardianship too reaches matching as an event
        answer = await gateway.post(booking, headers=minor.headers)
        return answer if answer.status_code == 201 else None

    booked = await helpers.eventually(accompanied, timeout=30)
    assert booked and booked.json()["state"] == "booked"

    # The guardian cancels: the minor cannot serve alone, so their booking ends too and the request reopens.
    left = await gateway.post(
        f"/api/v1/requests/{request_id}/cancel", headers=guardian.headers, json={"reason": "临时有事"}
    )
    assert left.status_code == 200, left.text
    seen = (await gateway.get(f"/api/v1/requests/{request_id}", headers=elder.headers)).json()
    assert seen["state"] == "open" and all(b["status"] != "booked" for b in seen["bookings"]), seen["bookings"]


LEGAL_ADVICE = "00000000-0000-4000-8000-0000000c0601"  # 法律咨询: needs 法律职业资格


async def test_legal_advice_is_booked_only_with_a_legal_qualification_valid_on_the_day(stack, gateway, helpers, sql):
    catalogue = (
        await gateway.get("/api/v1/service-catalog", headers=(await scenario.volunteer(gateway)).headers)
    ).json()
    [legal] = [i for c in catalogue for i in c["items"] if i["id"] == LEGAL_ADVICE]
    assert legal["qualification"] == "legal"
    elder = await scenario.elder_with_coins(gateway, 300)
    lawyer = await scenario.volunteer(gateway)
    await scenario.known_volunteer(gateway, lawyer)
    request_id = await scenario.approved_request(
        gateway, elder, hours_ahead=50, item=LEGAL_ADVICE, category="legal_aid"
    )
    booking = f"/api/v1/requests/{request_id}/booking"
    refused = await gateway.post(booking, headers=lawyer.headers)
    assert refused.status_code == 403 and refused.json()["type"].endswith("/qualification-required"), refused.text

    institution = await scenario.staff(gateway, "institution")
    path = f"/api/v1/people/{lawyer.person_id}/qualifications"
    service_day = (datetime.now(UTC) + timedelta(hours=51)).astimezone(BEIJING).date()
    short = await gateway.post(
        path,
        headers=institution,
        json={
            "kind": "legal",
            "evidence_ref": "11101201810000001",
            "valid_until": str(service_day - timedelta(days=1)),
        },
    )
    assert short.status_code == 201 and short.json()["valid_today"] is True, short.text
    known = "SELECT valid_until FROM qualifications WHERE person_id = :p AND kind = 'legal'"
    assert await helpers.eventually(lambda: sql["matching"].scalar(known, p=lawyer.person_id), timeout=30)
    expired_by_then = await gateway.post(booking, headers=lawyer.headers)
    assert expired_by_then.status_code == 403, "a qualification must last through the day of service"

    renewed = await gateway.post(
        path,
        headers=institution,
        json={
            "kind": "legal",
            "evidence_ref": "11101201810000002",
            "valid_until": str(service_day + timedelta(days=365)),
        },
    )
    assert renewed.status_code == 201

    async def booked():
        answer = await gateway.post(booking, headers=lawyer.headers)
        return answer if answer.status_code == 201 else None

    assert await helpers.eventually(booked, timeout=30)

    listed = (await gateway.get(path, headers=institution)).json()["items"]
    assert [(q["evidence_ref"], q["valid_today"]) for q in listed] == [
        ("11101201810000002", True),
        ("11101201810000001", False),
    ]
    assert listed[1]["revoke_reason"]  # replaced by the newer record, kept with why
    mine = (await gateway.get("/api/v1/me/qualifications", headers=lawyer.headers)).json()["items"]
    assert [q["id"] for q in mine] == [q["id"] for q in listed]
    elsewhere = await scenario.staff(gateway, "officer-110108")
    assert (await gateway.get(path, headers=elsewhere)).status_code == 403  # not a resident of 海淀
    assert (await gateway.get(path, headers=elder.headers)).status_code == 403
    assert (
        await gateway.post(f"{path}/{listed[0]['id']}/revoke", headers=elsewhere, json={"reason": "证书吊销"})
    ).status_code == 403

    # Staff withdraw it: the booking that needed it ends, the request reopens, the volunteer is told.
    withdrawn = await gateway.post(
        f"{path}/{listed[0]['id']}/revoke", headers=institution, json={"reason": "执业证被吊销"}
    )
    assert withdrawn.status_code == 200 and withdrawn.json()["valid_today"] is False
    assert (
        await gateway.post(f"{path}/{listed[0]['id']}/revoke", headers=institution, json={"reason": "再次撤销"})
    ).status_code == 409
    reopened = await _until(gateway, helpers, request_id, elder.headers, lambda r: r["state"] == "open")
    assert [b["status"] for b in reopened["bookings"]] == ["cancelled"]
    ended = (
        "SELECT count(*) FROM outbox WHERE event_type = 'timebank.matching.booking.cancelled' AND key = :r"
        " AND payload::jsonb -> 'data' ->> 'why' = 'qualification_withdrawn'"
    )
    assert await sql["matching"].scalar(ended, r=request_id) == 1
    assert (await gateway.post(booking, headers=lawyer.headers)).status_code == 403


async def test_a_district_names_the_qualification_its_own_items_need(stack, gateway):
    officer = await scenario.staff(gateway, "officer-110105")
    added = await gateway.post(
        "/api/v1/service-catalog/items",
        headers=officer,
        json={
            "category": "health_education",
            "name": f"上门康复指导{uuid.uuid4().hex[:6]}",
            "qualification": "medical",
        },
    )
    assert added.status_code == 201 and added.json()["qualification"] == "medical", added.text
    item = f"/api/v1/service-catalog/items/{added.json()['id']}"
    kept = await gateway.patch(item, headers=officer, json={"max_minutes": 90})
    assert kept.json()["qualification"] == "medical"  # not named: unchanged
    dropped = await gateway.patch(item, headers=officer, json={"qualification": None})
    assert dropped.status_code == 200 and dropped.json()["qualification"] is None
    assert (await gateway.patch(item, headers=officer, json={"qualification": "chef"})).status_code == 422
