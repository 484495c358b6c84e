"""Notifications reach people as WeChat subscription messages through identity, driven by events: a WeChat
outage delays them without losing or doubling any, an expired access token is renewed, and someone who
has not subscribed is not retried forever."""
import uuid
from datetime import UTC, datetime, timedelta

import httpx

from devstack import scenario

PLACE = {"lat": 39.9219, "lon": 116.4436}
CHAT = "00000000-0000-4000-8000-0000000c0101"


async def _publish_and_review(gateway, helpers, elder) -> str:
    start = (datetime.now(UTC) + timedelta(hours=6)).replace(microsecond=0)
    published = await gateway.post("/api/v1/requests", headers=elder.headers, json={
        "category": "emotional_comfort", "item_id": CHAT, "position": PLACE, "address": "朝阳区幸福里8号",
        "district": "110105", "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=1)).isoformat()})
    request_id = published.json()["id"]

    async def awaiting():
        return (await gateway.get(f"/api/v1/requests/{request_id}", headers=elder.headers)).json()["state"] == "awaiting_review"
    assert await helpers.eventually(awaiting, timeout=30)
    officer = await scenario.staff(gateway, "officer-110105")
    reviewed = await gateway.post(f"/api/v1/requests/{request_id}/review", headers=officer, json={"decision": "approve"})
    assert reviewed.status_code == 200
    return request_id


async def test_an_outage_delays_messages_but_loses_and_doubles_none(stack, gateway, helpers, sql):
    elder = await scenario.elder_with_coins(gateway, 300)
    async with httpx.AsyncClient(base_url=stack.url("wechat")) as wechat:
        await wechat.post("/_fake/expire-tokens")  # identity's cached token is now stale: it must renew it
        await wechat.post("/_fake/outage", json={"failures": 3})
        request_id = await _publish_and_review(gateway, helpers, elder)

        async def delivered():
            sent = (await wechat.get("/_fake/subscribe-messages", params={"touser": elder.openid})).json()
            return [m for m in sent if m["page"].endswith(request_id)]
        got = await helpers.eventually(delivered, timeout=30)
        assert [m["template_id"] for m in got] == ["tmpl-request-reviewed"]
        assert got[0]["data"]["status"] == {"value": "审核通过，等待志愿者预约"}
        assert "address" not in str(got[0]["data"]) and "幸福里" not in str(got[0])
        row = (await sql["identity"].rows(
            "SELECT status, attempts FROM notifications WHERE person_id = :p", p=uuid.UUID(elder.person_id)))[0]
        assert row.status == "sent" and row.attempts >= 1
        assert len(await delivered()) == 1


async def test_someone_who_has_not_subscribed_is_not_retried(stack, gateway, helpers, sql):
    elder = await scenario.elder_with_coins(gateway, 300)
    async with httpx.AsyncClient(base_url=stack.url("wechat")) as wechat:
        await wechat.post("/_fake/unsubscribed", json={"openids": [elder.openid]})
    await _publish_and_review(gateway, helpers, elder)

    async def settled():
        return await sql["identity"].scalar(
            "SELECT status FROM notifications WHERE person_id = :p AND status <> 'pending'", p=uuid.UUID(elder.person_id))
    assert await helpers.eventually(settled, timeout=30) == "declined"
