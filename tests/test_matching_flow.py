"""Matching through the gateway, over Kafka, with the ledger (DESIGN.md §4): a request from publication to
paid, rated delivery, and the ways it is refused or ends early."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx

from contracts.ledger import HoldPlaced
from devstack import scenario
from matching.domain import requests
from servicekit.db import Database

CHAT = "00000000-0000-4000-8000-0000000c0101"  # 情感慰藉 · 陪伴聊天 (city-wide)
PLACE = {"lat": 39.9219, "lon": 116.4436}  # 朝阳, WGS-84
TWO_KM_EAST = {"lat": 39.9219, "lon": 116.4670}


def _window(hours_ahead: float = 3, minutes: int = 120) -> tuple[datetime, datetime]:
    start = (datetime.now(UTC) + timedelta(hours=hours_ahead)).replace(microsecond=0)
    return start, start + timedelta(minutes=minutes)


def _body(start: datetime, end: datetime, **extra) -> dict:
    return {
        "category": "emotional_comfort",
        "item_id": CHAT,
        "position": PLACE,
        "address": "朝阳区朝外大街1号院3单元502",
        "district": "110105",
        "starts_at": start.isoformat(),
        "ends_at": end.isoformat(),
        "notes": "老人耳背，请大声说话",
        **extra,
    }


async def _state(gateway, helpers, request_id, headers, want: str, timeout: float = 30):
    async def reached():
        body = (await gateway.get(f"/api/v1/requests/{request_id}", headers=headers)).json()
        return body if body["state"] == want else None

    body = await helpers.eventually(reached, timeout=timeout)
    assert body is not None, f"request never became {want}"
    return body


async def _messages(stack, openid: str, request_id: str) -> list[dict]:
    """What the fake WeChat received for this person about this request, in order."""
    async with httpx.AsyncClient(base_url=stack.url("wechat")) as wechat:
        sent = (await wechat.get("/_fake/subscribe-messages", params={"touser": openid})).json()
    return [m for m in sent if m["page"].endswith(request_id)]


async def _account(gateway, person: scenario.Person) -> dict:
    return (await gateway.get("/api/v1/accounts/me", headers=person.headers)).json()


async def test_a_request_from_publication_to_paid_rated_service(stack, gateway, helpers, clock):
    elder = await scenario.elder_with_coins(gateway, 600)
    volunteer = await scenario.volunteer(gateway)
    await scenario.known_volunteer(gateway, volunteer)
    start, end = _window()

    published = await gateway.post("/api/v1/requests", headers=elder.headers, json=_body(start, end))
    assert published.status_code == 201, published.text
    request = published.json()
    assert request["state"] == "submitted" and request["estimated_minutes"] == 120 and request["priority"] is True
    request_id = request["id"]
    await _state(gateway, helpers, request_id, elder.headers, "awaiting_review")
    assert (await _account(gateway, elder))["held"] == 120

    haidian = await scenario.staff(gateway, "officer-110108")
    refused = await gateway.post(f"/api/v1/requests/{request_id}/review", headers=haidian, json={"decision": "approve"})
    assert refused.status_code == 403
    chaoyang = await scenario.staff(gateway, "officer-110105")
    queue = (await gateway.get("/api/v1/requests/queue?limit=100", headers=chaoyang)).json()["items"]
    assert request_id in [r["id"] for r in queue]
    approved = await gateway.post(
        f"/api/v1/requests/{request_id}/review", headers=chaoyang, json={"decision": "approve", "note": "情况属实"}
    )
    assert approved.status_code == 200 and approved.json()["state"] == "open"

    found = await gateway.get(
        f"/api/v1/requests?near={PLACE['lat']},{PLACE['lon']}&radius_m=1000&category=emotional_comfort",
        headers=volunteer.headers,
    )
    assert found.status_code == 200, found.text
    hit = next(r for r in found.json() if r["id"] == request_id)
    assert hit["distance_m"] == 0 and "address" not in hit
    before = await gateway.get(f"/api/v1/requests/{request_id}", headers=volunteer.headers)
    assert before.status_code == 404  # not a party yet

    booked = await gateway.post(f"/api/v1/requests/{request_id}/booking", headers=volunteer.headers)
    assert booked.status_code == 201, booked.text
    assert booked.json()["state"] == "booked" and booked.json()["address"].startswith("朝阳区朝外大街")

    clock.advance(hours=3, minutes=2)  # the window has started
    far = await gateway.post(
        f"/api/v1/requests/{request_id}/check-in", headers=volunteer.headers, json={"position": TWO_KM_EAST}
    )
    assert far.status_code == 422 and far.json()["type"].endswith("/too-far-from-place")
    assert 1900 < far.json()["distance_m"] < 2100
    signed_in = await gateway.post(
        f"/api/v1/requests/{request_id}/check-in",
        headers=volunteer.headers,
        json={"position": PLACE | {"lat": PLACE["lat"] + 0.0005}},
    )
    assert signed_in.status_code == 200, signed_in.text
    assert (
        signed_in.json()["request_state"] == "in_progress" and signed_in.json()["booking"]["check_in_distance_m"] == 56
    )

    clock.advance(minutes=95)
    signed_out = await gateway.post(
        f"/api/v1/requests/{request_id}/check-out", headers=volunteer.headers, json={"position": PLACE}
    )
    assert signed_out.status_code == 200, signed_out.text
    assert signed_out.json()["request_state"] == "completed"
    minutes = signed_out.json()["booking"]["minutes"]
    assert 94 <= minutes <= 95  # from the booked start (sign-in came 2 minutes after it) to sign-out

    async def paid():
        account = await _account(gateway, volunteer)
        return account if account["balance"] == minutes else None

    assert await helpers.eventually(paid, timeout=30)
    elder_account = await _account(gateway, elder)
    assert (elder_account["balance"], elder_account["held"]) == (600 - minutes, 0)

    rated = await gateway.post(
        f"/api/v1/requests/{request_id}/rating", headers=elder.headers, json={"score": 5, "comment": "小李很耐心"}
    )
    assert rated.status_code == 201 and rated.json()["flagged"] is False
    again = await gateway.post(f"/api/v1/requests/{request_id}/rating", headers=elder.headers, json={"score": 1})
    assert again.status_code == 409
    seen = (await gateway.get(f"/api/v1/requests/{request_id}", headers=elder.headers)).json()
    assert [h["action"] for h in seen["history"]] == [
        "submitted",
        "coins_held",
        "approved",
        "booked",
        "check_in",
        "check_out",
        "completed",
        "rated",
    ]
    assert seen["rating"]["score"] == 5

    # the elder heard of each step, once, as WeChat subscription messages (delivered by identity)
    async def told():
        got = await _messages(stack, elder.openid, request_id)
        return got if len(got) >= 4 else None

    assert [m["template_id"] for m in await helpers.eventually(told, timeout=30)] == [
        "tmpl-request-reviewed",
        "tmpl-request-booked",
        "tmpl-service-started",
        "tmpl-service-finished",
    ]


async def test_insufficient_coins_close_the_request_with_the_reason(stack, gateway, helpers):
    elder = await scenario.elder_with_coins(gateway, 0)
    start, end = _window()
    published = await gateway.post("/api/v1/requests", headers=elder.headers, json=_body(start, end))
    assert published.status_code == 201, published.text
    closed = await _state(gateway, helpers, published.json()["id"], elder.headers, "closed")
    assert closed["close_reason"] == "hold_rejected" and closed["close_note"]


async def test_the_ledgers_answers_to_many_requests_apply_together_each_once(stack, gateway, helpers):
    """Requests published together get their answers in a few polls, applied as one batch each: every
    request moves by its own answer, and an answer delivered again (another event id) moves nothing."""
    rich = await scenario.elder_with_coins(gateway, 600)
    poor = await scenario.elder_with_coins(gateway, 0)
    windows = [_window(hours_ahead=3 + i) for i in range(6)]
    published = await asyncio.gather(
        *(
            gateway.post("/api/v1/requests", headers=(rich if i < 4 else poor).headers, json=_body(*windows[i]))
            for i in range(6)
        )
    )
    assert all(p.status_code == 201 for p in published), [p.text for p in published]
    ids = [p.json()["id"] for p in published]
    held = [await _state(gateway, helpers, i, rich.headers, "awaiting_review") for i in ids[:4]]
    closed = [await _state(gateway, helpers, i, poor.headers, "closed") for i in ids[4:]]
    assert all(r["close_reason"] == "hold_rejected" for r in closed)

    db = Database(stack.database_url["matching"], pool_size=1)
    try:
        async with db.transaction() as session:
            await requests.holds_answered(
                session,
                [
                    HoldPlaced(
                        hold_id=uuid.uuid4(),
                        request_id=uuid.UUID(r["id"]),
                        elder_id=uuid.UUID(rich.person_id),
                        amount=120,
                        expires_at=datetime.now(UTC) + timedelta(days=1),
                        placed_at=datetime.now(UTC),
                    )
                    for r in held
                ],
                now=datetime.now(UTC),
            )
    finally:
        await db.dispose()
    for request_id in ids[:4]:
        seen = (await gateway.get(f"/api/v1/requests/{request_id}", headers=rich.headers)).json()
        assert seen["state"] == "awaiting_review"
        assert [h["action"] for h in seen["history"]] == ["submitted", "coins_held"]


async def test_cancellation_releases_the_hold_and_tells_the_volunteer(stack, gateway, helpers, sql):
    elder = await scenario.elder_with_coins(gateway, 300)
    volunteer = await scenario.volunteer(gateway)
    await scenario.known_volunteer(gateway, volunteer)
    request_id = await scenario.approved_request(gateway, elder, hours_ahead=1)
    assert (await gateway.post(f"/api/v1/requests/{request_id}/booking", headers=volunteer.headers)).status_code == 201
    assert (await _account(gateway, elder))["held"] == 60

    stranger = await scenario.resident(gateway, born=1950)
    assert (
        await gateway.post(f"/api/v1/requests/{request_id}/cancel", headers=stranger.headers, json={"reason": "恶作剧"})
    ).status_code == 404
    cancelled = await gateway.post(
        f"/api/v1/requests/{request_id}/cancel", headers=elder.headers, json={"reason": "临时住院"}
    )
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "closed"

    async def released():
        account = await _account(gateway, elder)
        return account["held"] == 0 and account["balance"] == 300

    assert await helpers.eventually(released, timeout=30)
    late = await sql["matching"].scalar(
        "SELECT late_cancellation FROM bookings WHERE request_id = :r", r=uuid.UUID(request_id)
    )
    assert late is True  # an hour's notice is inside the two-hour notice period

    async def told():
        return await _messages(stack, volunteer.openid, request_id)

    heard = await helpers.eventually(told, timeout=30)
    assert [m["template_id"] for m in heard] == ["tmpl-booking-cancelled"]
    assert heard[0]["data"]["note"] == {"value": "临时住院"}


async def test_two_concurrent_bookings_of_overlapping_requests_one_succeeds(stack, gateway, helpers):
    elder_a = await scenario.elder_with_coins(gateway, 300)
    elder_b = await scenario.elder_with_coins(gateway, 300)
    volunteer = await scenario.volunteer(gateway)
    await scenario.known_volunteer(gateway, volunteer)
    first = await scenario.approved_request(gateway, elder_a, hours_ahead=5, minutes=90)
    second = await scenario.approved_request(gateway, elder_b, hours_ahead=5.5, minutes=90)  # overlaps the first

    answers = await asyncio.gather(
        *(gateway.post(f"/api/v1/requests/{r}/booking", headers=volunteer.headers) for r in (first, second))
    )
    assert sorted(a.status_code for a in answers) == [201, 409], [a.text for a in answers]
    loser = next(a for a in answers if a.status_code == 409)
    assert loser.json()["type"].endswith("/overlapping-booking")


async def _produce(stack, topic, data, key) -> None:
    from aiokafka import AIOKafkaProducer

    from servicekit.events import build_event

    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap_servers, enable_idempotence=False)
    await producer.start()
    try:
        await producer.send_and_wait(
            topic.value,
            build_event(source=topic.value.split(".")[0], data=data, subject=str(key)).to_bytes(),
            key=str(key).encode(),
        )
    finally:
        await producer.stop()


async def test_a_sanctioned_volunteer_loses_their_bookings_and_cannot_book(stack, gateway, helpers):
    from contracts.audit import SanctionApplied
    from contracts.topics import Topic

    elder = await scenario.elder_with_coins(gateway, 600)
    volunteer = await scenario.volunteer(gateway)
    await scenario.known_volunteer(gateway, volunteer)
    first = await scenario.approved_request(gateway, elder, hours_ahead=8)
    second = await scenario.approved_request(gateway, elder, hours_ahead=10)
    assert (await gateway.post(f"/api/v1/requests/{first}/booking", headers=volunteer.headers)).status_code == 201

    # audit (its own issue) confirms fraud; its event is what matching acts on
    await _produce(
        stack,
        Topic.AUDIT,
        SanctionApplied(
            sanction_id=uuid.uuid4(),
            alert_id=uuid.uuid4(),
            kind="volunteer_recording_revoked",
            person_id=uuid.UUID(volunteer.person_id),
            decided_by="auditor",
            note="虚假签到",
            decided_at=datetime.now(UTC),
        ),
        volunteer.person_id,
    )
    reopened = await _state(gateway, helpers, first, elder.headers, "open")
    assert reopened["bookings"][0]["status"] == "cancelled"
    refused = await gateway.post(f"/api/v1/requests/{second}/booking", headers=volunteer.headers)
    assert refused.status_code == 403 and refused.json()["type"].endswith("/not-an-eligible-volunteer")


async def test_nobody_books_their_own_request_and_parties_alone_see_one(stack, gateway, helpers):
    elder = await scenario.elder_with_coins(gateway, 600)
    institution = await scenario.staff(gateway, "institution")
    trained = await gateway.post(
        f"/api/v1/people/{elder.person_id}/training",
        headers=institution,
        json={"kind": "volunteer", "completed_on": "2026-11-01"},
    )
    assert trained.status_code == 201
    elder = await scenario.sign_in(gateway, elder.openid)
    await scenario.known_volunteer(gateway, elder)
    request_id = await scenario.approved_request(gateway, elder, hours_ahead=30)
    own = await gateway.post(f"/api/v1/requests/{request_id}/booking", headers=elder.headers)
    assert own.status_code == 403 and own.json()["type"].endswith("/own-or-relatives-request")

    other_elder = await scenario.resident(gateway, born=1950)
    assert (await gateway.get(f"/api/v1/requests/{request_id}", headers=other_elder.headers)).status_code == 404
    haidian = await scenario.staff(gateway, "officer-110108")
    assert (await gateway.get(f"/api/v1/requests/{request_id}", headers=haidian)).status_code == 403
    chaoyang = await scenario.staff(gateway, "officer-110105")
    seen = await gateway.get(f"/api/v1/requests/{request_id}", headers=chaoyang)
    assert seen.status_code == 200 and seen.json()["address"]


async def test_bad_requests_are_refused_and_store_nothing(stack, gateway, helpers, sql):
    elder = await scenario.elder_with_coins(gateway, 0)
    start, end = _window()
    before = await sql["matching"].scalar("SELECT count(*) FROM requests")
    cases = {
        "outside-beijing": _body(start, end, position={"lat": 31.23, "lon": 121.47}),
        "unknown-service-item": _body(start, end, item_id=str(uuid.uuid4())),
        "invalid-service-window": _body(end, start),
        "validation-error": _body(start, end, district="999999"),
    }
    too_long = _body(start, start + timedelta(hours=7))
    past = _body(start - timedelta(days=1), end - timedelta(days=1))
    for expected, body in [*cases.items(), ("invalid-service-window", too_long), ("invalid-service-window", past)]:
        response = await gateway.post("/api/v1/requests", headers=elder.headers, json=body)
        assert 400 <= response.status_code < 500, response.text
        if expected != "validation-error":
            assert response.json()["type"].endswith("/" + expected), response.text
    wrong_category = _body(start, end, category="legal_aid")
    assert (await gateway.post("/api/v1/requests", headers=elder.headers, json=wrong_category)).status_code == 422
    assert await sql["matching"].scalar("SELECT count(*) FROM requests") == before


async def test_a_retried_publish_creates_one_request_and_another_body_with_the_key_is_409(stack, gateway, sql):
    elder = await scenario.elder_with_coins(gateway, 600)
    start, end = _window()
    headers = {**elder.headers, "Idempotency-Key": f"publish-{uuid.uuid4()}"}
    first = await gateway.post("/api/v1/requests", headers=headers, json=_body(start, end))
    retry = await gateway.post("/api/v1/requests", headers=headers, json=_body(start, end))
    assert first.status_code == 201 and retry.status_code == 201
    assert retry.json()["id"] == first.json()["id"] and retry.headers["idempotent-replayed"] == "true"
    assert await sql["matching"].scalar("SELECT count(*) FROM requests WHERE elder_id = :e", e=elder.person_id) == 1
    other = await gateway.post("/api/v1/requests", headers=headers, json=_body(start, end, notes="另一个需求"))
    assert other.status_code == 409 and other.json()["type"].endswith("/idempotency-key-reused")
