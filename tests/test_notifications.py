"""Notifications reach people as WeChat subscription messages through identity, driven by events: a WeChat
outage delays them without losing or doubling any, an expired access token is renewed, and someone who
has not subscribed is not retried forever."""

import asyncio
import uuid

import httpx

from devstack import scenario


async def test_an_outage_delays_messages_but_loses_and_doubles_none(stack, gateway, helpers, sql):
    elder = await scenario.elder_with_coins(gateway, 300)
    async with httpx.AsyncClient(base_url=stack.url("wechat")) as wechat:
        await wechat.post("/_fake/expire-tokens")  # identity's cached token is now stale: it must renew it
        await wechat.post("/_fake/outage", json={"failures": 3})
        request_id = await scenario.approved_request(gateway, elder, hours_ahead=6)

        async def delivered():
            sent = (await wechat.get("/_fake/subscribe-messages", params={"touser": elder.openid})).json()
            return [m for m in sent if m["page"].endswith(request_id)]

        got = await helpers.eventually(delivered, timeout=30)
        assert [m["template_id"] for m in got] == ["tmpl-request-reviewed"]
        assert got[0]["data"]["status"] == {"value": "审核通过，等待志愿者预约"}
        assert "address" not in str(got[0]["data"]) and "幸福里" not in str(got[0])
        row = (
            await sql["identity"].rows(
                "SELECT status, attempts FROM notifications WHERE person_id = :p", p=uuid.UUID(elder.person_id)
            )
        )[0]
        assert row.status == "sent" and row.attempts >= 1
        assert len(await delivered()) == 1


async def test_someone_who_has_not_subscribed_is_not_retried(stack, gateway, helpers, sql):
    elder = await scenario.elder_with_coins(gateway, 300)
    async with httpx.AsyncClient(base_url=stack.url("wechat")) as wechat:
        await wechat.post("/_fake/unsubscribed", json={"openids": [elder.openid]})
    await scenario.approved_request(gateway, elder, hours_ahead=6)

    async def settled():
        return await sql["identity"].scalar(
            "SELECT status FROM notifications WHERE person_id = :p AND status <> 'pending'",
            p=uuid.UUID(elder.person_id),
        )

    assert await helpers.eventually(settled, timeout=30) == "declined"


async def test_a_send_wechat_is_slow_to_answer_holds_up_no_one_else(stack, gateway, helpers):
    """WeChat takes seconds to answer one person's message: a message asked for another person meanwhile goes
    while that send is still open (an SOS alert must not queue behind it), and the slow one still goes once."""
    slow, other = [await scenario.elder_with_coins(gateway, 300) for _ in range(2)]
    requests = {p.person_id: await scenario.request_awaiting_review(gateway, p, hours_ahead=6) for p in (slow, other)}
    reviewer = await scenario.staff(gateway, "officer-110105")

    async def approve(person) -> None:
        reviewed = await gateway.post(
            f"/api/v1/requests/{requests[person.person_id]}/review",
            headers=reviewer,
            json={"decision": "approve", "note": "情况属实"},
        )
        assert reviewed.status_code == 200, reviewed.text

    async with httpx.AsyncClient(base_url=stack.url("wechat")) as wechat:
        # Within identity's WeChat timeout (3 s), so the slow send succeeds.
        await wechat.post("/_fake/slow", json={"touser": slow.openid, "seconds": 2.5})
        await approve(slow)

        async def slow_send_open() -> bool:
            return (await wechat.get("/_fake/slow")).json()["open"] == 1

        assert await helpers.eventually(slow_send_open, timeout=30, interval=0.05)
        await approve(other)

        async def delivered(person):
            sent = (await wechat.get("/_fake/subscribe-messages", params={"touser": person.openid})).json()
            return [m for m in sent if m["page"].endswith(requests[person.person_id])]

        others = await helpers.eventually(lambda: delivered(other), timeout=30)
        assert others and others[0]["_slow_calls_open"] == 1, "the other person's message waited for the slow send"
        assert len(await helpers.eventually(lambda: delivered(slow), timeout=30)) == 1


async def _message_with_a_send_out(gateway, helpers, wechat, elder, *, seconds: float) -> str:
    """An approved request whose message to the elder WeChat takes `seconds` to answer; returns the request's id
    once that send is out."""
    request_id = await scenario.request_awaiting_review(gateway, elder, hours_ahead=6)
    await wechat.post("/_fake/slow", json={"touser": elder.openid, "seconds": seconds})
    reviewed = await gateway.post(
        f"/api/v1/requests/{request_id}/review",
        headers=await scenario.staff(gateway, "officer-110105"),
        json={"decision": "approve", "note": "情况属实"},
    )
    assert reviewed.status_code == 200, reviewed.text

    async def slow_send_open() -> bool:
        return (await wechat.get("/_fake/slow")).json()["open"] == 1

    assert await helpers.eventually(slow_send_open, timeout=30, interval=0.05)
    return request_id


async def test_a_message_out_with_wechat_when_identity_is_killed_goes_again_once_its_lease_runs_out(
    stack, gateway, helpers, sql
):
    """kill -9 of identity while WeChat is answering a send: the message is leased to the dead process, and once
    the lease runs out the restarted service sends it again. WeChat took the first send too, so the person gets it
    twice: after a crash a message may repeat, never go missing."""
    elder = await scenario.elder_with_coins(gateway, 300)
    async with httpx.AsyncClient(base_url=stack.url("wechat")) as wechat:
        request_id = await _message_with_a_send_out(gateway, helpers, wechat, elder, seconds=2.5)
        await asyncio.to_thread(stack.restart, "identity", crash=True)

        async def sent_twice():
            sent = (await wechat.get("/_fake/subscribe-messages", params={"touser": elder.openid})).json()
            got = [m for m in sent if m["page"].endswith(request_id)]
            return got if len(got) == 2 else None

        copies = await helpers.eventually(sent_twice, timeout=60)
        assert copies and copies[0]["data"] == copies[1]["data"]

    async def recorded_sent() -> bool:
        status = await sql["identity"].scalar(
            "SELECT status FROM notifications WHERE person_id = :p", p=uuid.UUID(elder.person_id)
        )
        return status == "sent"

    assert await helpers.eventually(recorded_sent, timeout=30)


async def test_a_restart_of_identity_lets_a_send_out_with_wechat_finish_and_sends_nothing_twice(
    stack, gateway, helpers, sql
):
    """A restart (SIGTERM: a deploy) while WeChat is answering a send: the stopping service waits for the answer
    and records it, so the message neither waits for its lease nor goes twice."""
    elder = await scenario.elder_with_coins(gateway, 300)
    async with httpx.AsyncClient(base_url=stack.url("wechat")) as wechat:
        request_id = await _message_with_a_send_out(gateway, helpers, wechat, elder, seconds=2.0)
        await asyncio.to_thread(stack.restart, "identity")

        async def recorded_sent() -> bool:
            status = await sql["identity"].scalar(
                "SELECT status FROM notifications WHERE person_id = :p", p=uuid.UUID(elder.person_id)
            )
            return status == "sent"

        assert await helpers.eventually(recorded_sent, timeout=60)
        sent = (await wechat.get("/_fake/subscribe-messages", params={"touser": elder.openid})).json()
        assert len([m for m in sent if m["page"].endswith(request_id)]) == 1
