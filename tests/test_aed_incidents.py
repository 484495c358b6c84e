"""急救宝 incidents through the gateway: the nearest on-duty responders are alerted in waves, a decline moves on
to the next wave, the first to accept fetches the AED (locked to them) and the others go straight to the
patient, pending alerts are cancelled once enough accepted, the exact address is for those who accepted,
120 receives every step in order — also after being down for a while — and closes the incident."""

import asyncio
import json
import random
import uuid
from datetime import UTC, date, datetime, timedelta

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from aed.domain.dispatch import signed_headers
from devstack import scenario

FAR_FUTURE = (date.today() + timedelta(days=700)).isoformat()


def _near(spot: dict, metres_north: float) -> dict:
    return {"lat": spot["lat"] + metres_north / 111_000, "lon": spot["lon"]}


async def _on_duty(gateway, helpers, person, position) -> None:
    async def on():  # svc-aed learns the responder role from identity's events
        response = await gateway.put(
            "/api/v1/responders/me/duty", headers=person.headers, json={"on_duty": True, "position": position}
        )
        assert response.status_code in (200, 403), response.text
        return response.status_code == 200

    assert await helpers.eventually(on, timeout=30)


async def _device_near(gateway, spot: dict) -> str:
    """A usable public AED 150 m north of the spot, open around the clock; its id."""
    device = await gateway.post(
        "/api/v1/aeds",
        headers=await scenario.staff(gateway, "admin"),
        json={
            "serial": f"I-{uuid.uuid4().hex[:10]}",
            "name": "社区服务中心",
            "position": _near(spot, 150),
            "address": "某社区服务中心一层",
            "district": "110108",
            "indoor": True,
            "access": "public",
            "opening_hours": "24/7",
            "battery_expires_on": FAR_FUTURE,
            "adult_pads_expires_on": FAR_FUTURE,
        },
    )
    assert device.status_code == 201, device.text
    return device.json()["id"]


async def _fake_120(stack, path: str, **kwargs):
    async with httpx.AsyncClient(base_url=stack.url("dispatch120")) as client:
        return (await client.request(kwargs.pop("method", "GET"), path, **kwargs)).json()


async def test_waves_fetcher_and_direct_responders_and_120_follows_every_step(stack, gateway, helpers, sql):
    spot = {"lat": round(random.uniform(39.80, 40.00), 5), "lon": round(random.uniform(116.25, 116.50), 5)}
    aed_id = await _device_near(gateway, spot)

    team = [await scenario.responder(gateway) for _ in range(6)]
    for n, person in enumerate(team):  # 100 m, 200 m, … 600 m north of the patient
        await _on_duty(gateway, helpers, person, _near(spot, 100 * (n + 1)))

    caller = await scenario.resident(gateway, born=1970)
    opened = await gateway.post(
        "/api/v1/incidents",
        headers=caller.headers,
        json={"position": spot, "address": "某小区3号楼2单元门口", "note": "老人倒地，无意识"},
    )
    assert opened.status_code == 201, opened.text
    incident = opened.json()["id"]
    first_wave = {a["responder_id"] for a in opened.json()["alerts"]}
    assert first_wave == {p.person_id for p in team[:4]}  # the four nearest: as many as an incident needs
    assert all("lat" not in a and "lon" not in a for a in opened.json()["alerts"])  # positions never shown
    event = await sql["aed"].scalar(
        "SELECT payload FROM outbox WHERE key = :i AND event_type = 'timebank.aed.incident.opened'", i=incident
    )
    assert json.loads(event)["data"]["responders_nearby"] >= len(team)  # counted, not a constant

    alerted = (await gateway.get("/api/v1/responders/me/alerts", headers=team[0].headers)).json()["items"][0]
    assert alerted["incident_id"] == incident and "address" not in alerted and alerted["approximate_position"]
    raised = (await gateway.get("/api/v1/incidents/mine", headers=caller.headers)).json()
    assert [(i["id"], i["state"], i["address"]) for i in raised["items"]] == [
        (incident, "open", "某小区3号楼2单元门口")
    ]
    assert (await gateway.get("/api/v1/incidents/mine", headers=team[0].headers)).json()["items"] == []

    declined = await gateway.post(
        f"/api/v1/incidents/{incident}/responses", headers=team[0].headers, json={"accept": False}
    )
    assert declined.status_code == 200 and declined.json()["my_status"] == "declined"
    after = (await gateway.get(f"/api/v1/incidents/{incident}", headers=caller.headers)).json()
    assert {a["responder_id"] for a in after["alerts"] if a["wave"] == 2} == {p.person_id for p in team[4:]}

    fetch = await gateway.post(
        f"/api/v1/incidents/{incident}/responses", headers=team[1].headers, json={"accept": True}
    )
    assert fetch.json()["my_role"] == "fetch_aed" and fetch.json()["aed_id"] == aed_id
    assert fetch.json()["address"] == "某小区3号楼2单元门口"  # revealed once accepted
    direct = await gateway.post(
        f"/api/v1/incidents/{incident}/responses", headers=team[2].headers, json={"accept": True}
    )
    # A second fetcher is allowed, but the only AED is locked to the first.
    assert direct.json()["my_role"] == "direct" and direct.json()["aed_id"] is None
    for responder in team[3:5]:
        more = await gateway.post(
            f"/api/v1/incidents/{incident}/responses", headers=responder.headers, json={"accept": True}
        )
        assert more.json()["my_role"] == "direct"
    late = await gateway.post(f"/api/v1/incidents/{incident}/responses", headers=team[5].headers, json={"accept": True})
    assert late.status_code == 409 and late.json()["status"] == "cancelled"  # enough accepted: cancelled
    again = await gateway.post(
        f"/api/v1/incidents/{incident}/responses", headers=team[0].headers, json={"accept": True}
    )
    assert again.status_code == 409  # one alert, once

    await _fake_120(stack, "/_fake/down", method="POST", json={"down": True})
    arrived = await gateway.post(
        f"/api/v1/incidents/{incident}/arrival", headers=team[1].headers, json={"with_aed": True}
    )
    assert arrived.status_code == 200
    nearby = await gateway.get("/api/v1/aeds", params={"near": f"{spot['lat']},{spot['lon']}", "limit": 20})
    assert aed_id not in [d["id"] for d in nearby.json()]  # used: waits for a restock and inspection
    await _fake_120(stack, "/_fake/down", method="POST", json={"down": False})

    partner = await scenario.partner(gateway, "emergency-120")
    assert (
        await gateway.post(
            f"/api/v1/incidents/{incident}/updates", headers=partner, json={"status": "ambulance_arrived"}
        )
    ).status_code == 200
    closed = await gateway.post(
        f"/api/v1/incidents/{incident}/close",
        headers=partner,
        json={"status": "transported", "note": "已恢复自主循环，送往医院"},
    )
    assert closed.status_code == 200 and closed.json()["state"] == "closed"

    async def everything_arrived():
        got = await _fake_120(stack, "/_fake/updates", params={"incident_id": incident})
        return got if got and got[-1].get("step") == "closed" else None

    updates = await helpers.eventually(everything_arrived, timeout=30)
    assert updates[0]["kind"] == "opened" and updates[0]["address"] == "某小区3号楼2单元门口"
    ids = [u["update_id"] for u in updates]
    assert ids == sorted(set(ids)), "each update once, in the order sent"
    steps = [u["step"] for u in updates[1:]]
    assert steps == ["alerted"] * 4 + ["declined"] + ["alerted"] * 2 + [
        "accepted",
        "sent_for_aed",
        "accepted",
        "sent_to_patient",
        "accepted",
        "sent_to_patient",
        "accepted",
        "sent_to_patient",
        "alerts_cancelled",
        "arrived",
        "dispatch_update",
        "closed",
    ]

    async def phones_rang():  # each alerted responder got one WeChat message for this incident
        async with httpx.AsyncClient(base_url=stack.url("wechat")) as wechat:
            sent = (await wechat.get("/_fake/subscribe-messages")).json()
        mine = [m for m in sent if m["template_id"] == "tmpl-incident-alert" and m["page"].endswith(incident)]
        return mine if len(mine) >= len(team) else None

    messages = await helpers.eventually(phones_rang, timeout=30)
    assert sorted(m["touser"] for m in messages) == sorted(p.openid for p in team)
    # Identity measured how long each alert took from its request to WeChat accepting it (the SOS → alert figure).
    async with httpx.AsyncClient() as client:
        metrics = (await client.get(stack.url("identity") + "/metrics")).text
    delivered = [
        sample.value
        for family in text_string_to_metric_families(metrics)
        if family.name == "notification_delivery_seconds"
        for sample in family.samples
        if sample.name.endswith("_count") and sample.labels == {"template": "incident_alert", "channel": "wechat"}
    ]
    assert delivered and delivered[0] >= len(team), metrics

    stranger = await scenario.resident(gateway, born=1990)
    assert (await gateway.get(f"/api/v1/incidents/{incident}", headers=stranger.headers)).status_code == 404


async def test_a_responder_with_an_expired_certificate_is_never_alerted(stack, gateway, helpers):
    spot = {"lat": round(random.uniform(39.80, 40.00), 5), "lon": round(random.uniform(116.25, 116.50), 5)}
    expired = await scenario.responder(gateway, certificate_expires_on=(date.today() - timedelta(days=1)).isoformat())
    refused = await gateway.put(
        "/api/v1/responders/me/duty", headers=expired.headers, json={"on_duty": True, "position": _near(spot, 50)}
    )
    assert refused.status_code == 403
    valid = await scenario.responder(gateway)
    await _on_duty(gateway, helpers, valid, _near(spot, 80))
    nowhere = await gateway.put("/api/v1/responders/me/duty", headers=valid.headers, json={"on_duty": True})
    assert nowhere.status_code == 422 and "位置" in nowhere.json()["detail"], nowhere.text
    caller = await scenario.resident(gateway, born=1970)
    opened = (await gateway.post("/api/v1/incidents", headers=caller.headers, json={"position": spot})).json()
    alerted = [a["responder_id"] for a in opened["alerts"]]
    # Membership, not equality: responders other tests left on duty may happen to stand near the random spot.
    assert valid.person_id in alerted and expired.person_id not in alerted
    off = await gateway.put("/api/v1/responders/me/duty", headers=valid.headers, json={"on_duty": False})
    assert off.json() == {"on_duty": False, "refresh_before": None}


async def test_a_contact_phone_counts_only_once_proven_with_the_code_texted_to_it(stack, gateway, helpers):
    person = await scenario.responder(gateway)
    assert (await gateway.put("/api/v1/me/phone", headers=person.headers, json={"phone": "12345"})).status_code == 422
    first = await scenario.proven_phone(stack, gateway, person)
    me = (await gateway.get("/api/v1/me", headers=person.headers)).json()
    assert me["phone_masked"] == first[:3] + "****" + first[-4:] and first not in str(me)

    # A second number: until its code is confirmed the first stays in use, and guesses run out.
    second = "138" + "".join(random.choice("0123456789") for _ in range(8))
    pending = await gateway.put("/api/v1/me/phone", headers=person.headers, json={"phone": second})
    assert pending.json()["phone_masked"] == first[:3] + "****" + first[-4:]
    again = await gateway.put("/api/v1/me/phone", headers=person.headers, json={"phone": second})
    assert again.status_code == 429 and again.headers["retry-after"]
    [text] = await scenario.texts(stack, second)
    code = text["template_params"][0]
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    tries = [
        await gateway.post("/api/v1/me/phone/verification", headers=person.headers, json={"code": wrong})
        for _ in range(5)
    ]
    assert [t.status_code for t in tries] == [422] * 5
    assert tries[0].json()["tries_left"] == 4 and tries[0].json()["type"].endswith("phone-code-refused")
    late = await gateway.post("/api/v1/me/phone/verification", headers=person.headers, json={"code": code})
    assert late.status_code == 422  # the right code, after the tries ran out
    me = (await gateway.get("/api/v1/me", headers=person.headers)).json()
    assert me["phone_masked"] == first[:3] + "****" + first[-4:]
    # Someone else cannot confirm it, nor can a code be sent with no number behind it.
    other = await scenario.responder(gateway)
    assert (
        await gateway.post("/api/v1/me/phone/verification", headers=other.headers, json={"code": code})
    ).status_code == 422


async def test_an_alert_goes_by_sms_when_wechat_cannot_deliver(stack, gateway, helpers):
    spot = {"lat": round(random.uniform(39.80, 40.00), 5), "lon": round(random.uniform(116.25, 116.50), 5)}
    responder = await scenario.responder(gateway)
    phone = await scenario.proven_phone(stack, gateway, responder)
    async with httpx.AsyncClient(base_url=stack.url("wechat")) as wechat:
        await wechat.post("/_fake/unsubscribed", json={"openids": [responder.openid]})
    await _on_duty(gateway, helpers, responder, _near(spot, 60))
    caller = await scenario.resident(gateway, born=1970)
    incident = (await gateway.post("/api/v1/incidents", headers=caller.headers, json={"position": spot})).json()["id"]

    async def texted():
        return [m for m in await scenario.texts(stack, phone) if m["template_id"] == alert.id]

    alert = scenario.sms_template("incident_alert")
    [message] = await helpers.eventually(texted, timeout=30)
    assert "约60米" in message["template_params"][alert.params.index("status")]
    assert incident  # the SMS names no address: accepting in the app reveals it


async def test_staff_see_their_districts_incidents_and_read_the_address_only_with_a_reason(stack, gateway, sql):
    spot = {"lat": round(random.uniform(39.95, 40.02), 5), "lon": round(random.uniform(116.28, 116.33), 5)}  # 海淀
    caller = await scenario.resident(gateway, born=1970)
    opened = await gateway.post(
        "/api/v1/incidents",
        headers=caller.headers,
        json={"position": spot, "district": "110108", "address": "海淀区某小区5号楼门口", "note": "老人倒地"},
    )
    assert opened.status_code == 201 and opened.json()["address"] == "海淀区某小区5号楼门口"
    incident = opened.json()["id"]
    unplaced = (await gateway.post("/api/v1/incidents", headers=caller.headers, json={"position": spot})).json()["id"]
    haidian, chaoyang = await scenario.staff(gateway, "officer-110108"), await scenario.staff(gateway, "officer-110105")
    admin = await scenario.staff(gateway, "admin")
    accessed = "SELECT count(*) FROM outbox WHERE key = :i AND event_type = 'timebank.aed.incident.address-accessed'"

    seen = await gateway.get(f"/api/v1/incidents/{incident}", headers=haidian)
    assert seen.status_code == 200 and "address" not in seen.json() and seen.json()["district"] == "110108"
    assert await sql["aed"].scalar(accessed, i=incident) == 0
    read = await gateway.get(f"/api/v1/incidents/{incident}", headers=haidian, params={"reason": "核实120调度记录"})
    assert read.json()["address"] == "海淀区某小区5号楼门口"
    assert await sql["aed"].scalar(accessed, i=incident) == 1
    assert "address" not in (await gateway.get(f"/api/v1/incidents/{incident}", headers=admin)).json()

    for other in (f"/api/v1/incidents/{incident}", f"/api/v1/incidents/{unplaced}"):  # not theirs: as if absent
        assert (await gateway.get(other, headers=chaoyang)).status_code == 404
    assert (await gateway.get(f"/api/v1/incidents/{unplaced}", headers=haidian)).status_code == 404
    assert (await gateway.get(f"/api/v1/incidents/{unplaced}", headers=admin)).status_code == 200
    refused = await gateway.post(
        f"/api/v1/incidents/{incident}/close", headers=chaoyang, json={"status": "false_alarm"}
    )
    assert refused.status_code == 404
    closed = await gateway.post(f"/api/v1/incidents/{incident}/close", headers=haidian, json={"status": "false_alarm"})
    assert closed.status_code == 200 and closed.json()["state"] == "closed" and "address" not in closed.json()


async def test_a_responder_withdraws_and_the_aed_passes_on_then_the_caller_calls_it_off(stack, gateway, helpers):
    spot = {"lat": round(random.uniform(39.80, 40.00), 5), "lon": round(random.uniform(116.25, 116.50), 5)}
    aed_id = await _device_near(gateway, spot)
    team = [await scenario.responder(gateway) for _ in range(5)]
    for n, person in enumerate(team):
        await _on_duty(gateway, helpers, person, _near(spot, 100 * (n + 1)))
    caller = await scenario.resident(gateway, born=1970)
    opened = await gateway.post("/api/v1/incidents", headers=caller.headers, json={"position": spot})
    assert {a["responder_id"] for a in opened.json()["alerts"]} == {p.person_id for p in team[:4]}
    incident = opened.json()["id"]
    path = f"/api/v1/incidents/{incident}"

    fetcher = await gateway.post(path + "/responses", headers=team[0].headers, json={"accept": True})
    assert fetcher.json()["my_role"] == "fetch_aed" and fetcher.json()["aed_id"] == aed_id
    direct = await gateway.post(path + "/responses", headers=team[1].headers, json={"accept": True})
    assert direct.json()["my_role"] == "direct"
    assert (
        await gateway.post(path + "/withdrawal", headers=team[2].headers, json={"reason": "临时有事"})
    ).status_code == 404, "only one who accepted withdraws"

    withdrew = await gateway.post(path + "/withdrawal", headers=team[0].headers, json={"reason": "扭伤了脚"})
    assert withdrew.status_code == 200, withdrew.text
    assert (withdrew.json()["my_status"], withdrew.json()["aed_id"]) == ("withdrawn", None)
    mine = (await gateway.get(path, headers=team[1].headers)).json()
    assert (mine["my_role"], mine["aed_id"]) == ("fetch_aed", aed_id), "the AED passed to the one on the way"
    whole = (await gateway.get(path, headers=caller.headers)).json()
    alerted = {a["responder_id"]: a for a in whole["alerts"]}
    assert team[4].person_id in alerted, "too few left: the next nearest is alerted"
    assert alerted[team[0].person_id]["status"] == "withdrawn"

    called_off = await gateway.post(path + "/cancel", headers=caller.headers, json={"reason": "老人已清醒，误报"})
    assert called_off.status_code == 200, called_off.text
    assert (called_off.json()["state"], called_off.json()["outcome"]) == ("closed", "cancelled_by_caller")
    assert {
        a["status"] for a in called_off.json()["alerts"] if a["responder_id"] in {p.person_id for p in team[2:]}
    } == {"cancelled"}, "alerts not yet answered are cancelled"
    assert (
        await gateway.post(path + "/cancel", headers=caller.headers, json={"reason": "再次取消"})
    ).status_code == 409
    assert (
        await gateway.post(path + "/withdrawal", headers=team[1].headers, json={"reason": "已取消"})
    ).status_code == 409
    stranger = await scenario.resident(gateway, born=1980)
    assert (
        await gateway.post(path + "/cancel", headers=stranger.headers, json={"reason": "恶作剧"})
    ).status_code == 404

    async def told_120():
        got = await _fake_120(stack, "/_fake/updates", params={"incident_id": incident})
        return [u.get("step") for u in got] if got and got[-1].get("step") == "cancelled_by_caller" else None

    steps = await helpers.eventually(told_120, timeout=30)
    assert steps and "withdrew" in steps


async def test_a_change_to_an_alert_waits_for_its_incident_and_the_sms_round_waits_for_nothing(
    stack, gateway, helpers, sql
):
    """The lock order that keeps a caller's cancel from deadlocking with a delivery report: while a transaction
    holds an incident and one of its alerts, as a cancel or an answer does midway, the unseen-SMS round still
    texts the alerts no one holds, and a delivery report for an alert waits at the incident, never holding an
    alert the other needs. Once it is let go, both go through."""
    spot = {"lat": round(random.uniform(39.80, 40.00), 5), "lon": round(random.uniform(116.25, 116.50), 5)}
    free, held = team = [await scenario.responder(gateway) for _ in range(2)]
    phones = {p.person_id: await scenario.proven_phone(stack, gateway, p) for p in team}
    for n, person in enumerate(team):
        await _on_duty(gateway, helpers, person, _near(spot, 100 * (n + 1)))
    caller = await scenario.resident(gateway, born=1970)
    opened = await gateway.post("/api/v1/incidents", headers=caller.headers, json={"position": spot})
    incident = opened.json()["id"]

    async def delivered_by(person) -> list[str]:
        return await sql["aed"].scalar(
            "SELECT delivered_by FROM incident_alerts WHERE incident_id = :i AND responder_id = :r",
            i=uuid.UUID(incident),
            r=uuid.UUID(person.person_id),
        )

    async def both_on_wechat():
        return [await delivered_by(p) for p in team] == [["wechat"], ["wechat"]]

    assert await helpers.eventually(both_on_wechat, timeout=30)
    template = scenario.sms_template("incident_alert").id

    async def texted(person):
        return [m for m in await scenario.texts(stack, phones[person.person_id]) if m["template_id"] == template]

    engine = create_async_engine(stack.database_url["aed"], pool_size=1)
    try:
        async with engine.connect() as holder:
            await holder.begin()
            me = (await holder.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            await holder.execute(text("SELECT 1 FROM incidents WHERE id = :i FOR UPDATE"), {"i": uuid.UUID(incident)})
            await holder.execute(
                text("UPDATE incident_alerts SET answered_at = NULL WHERE incident_id = :i AND responder_id = :r"),
                {"i": uuid.UUID(incident), "r": uuid.UUID(held.person_id)},
            )
            assert await helpers.eventually(lambda: texted(free), timeout=30), "the SMS round waited for a held alert"

            async def report_waits_at_the_incident():
                return await sql["aed"].scalar(
                    "SELECT count(*) FROM pg_stat_activity WHERE :me = ANY(pg_blocking_pids(pid))"
                    " AND query LIKE '%FROM incidents WHERE id%FOR UPDATE%'",
                    me=me,
                )

            assert await helpers.eventually(report_waits_at_the_incident, timeout=30), (
                "the SMS delivery report did not wait for the incident"
            )
            assert await delivered_by(free) == ["wechat"], "the delivery report went past the held incident"
            assert await texted(held) == []
            await holder.rollback()
    finally:
        await engine.dispose()

    async def let_go():
        return await delivered_by(free) == ["wechat", "sms"] and await texted(held)

    assert await helpers.eventually(let_go, timeout=30)


async def test_a_slow_120_call_holds_up_no_other_incident_and_nothing_overtakes_it(stack, gateway, helpers):
    """120 takes seconds to answer one incident's call: another incident's updates reach 120 while that call is
    still open, and the slow incident's later step waits for the call and arrives after it, each update once."""
    token = f"slow-{uuid.uuid4().hex}"
    # Slower than a round and than opening an incident; within svc-aed's timeout (3 s), so the call succeeds.
    await _fake_120(stack, "/_fake/slow", method="POST", json={"containing": token, "seconds": 2.5, "requests": 1})
    partner = await scenario.partner(gateway, "emergency-120")

    def spot() -> dict:
        return {"lat": round(random.uniform(39.80, 40.00), 5), "lon": round(random.uniform(116.25, 116.50), 5)}

    async def opened(note: str) -> str:
        caller = await scenario.resident(gateway, born=1966)
        response = await gateway.post(
            "/api/v1/incidents", headers=caller.headers, json={"position": spot(), "note": note}
        )
        assert response.status_code == 201, response.text
        return response.json()["id"]

    async def at_120(incident: str) -> list[dict]:
        return await _fake_120(stack, "/_fake/updates", params={"incident_id": incident})

    slow = await opened(token)

    async def slow_call_open() -> bool:
        return (await _fake_120(stack, "/_fake/slow"))["open"] == 1

    assert await helpers.eventually(slow_call_open, timeout=30, interval=0.05)
    # While the slow incident's opening is out with 120: 120's own update on it, and another incident.
    update = await gateway.post(
        f"/api/v1/incidents/{slow}/updates", headers=partner, json={"status": "ambulance_dispatched"}
    )
    assert update.status_code == 200, update.text
    other = await opened("胸痛")

    others = await helpers.eventually(lambda: at_120(other), timeout=30)
    assert others and others[0]["kind"] == "opened"
    assert others[0]["_slow_calls_open"] == 1, "the other incident waited for the slow incident's call"

    async def all_of_slow():
        got = await at_120(slow)
        return got if any(u.get("step") == "dispatch_update" for u in got) else None

    updates = await helpers.eventually(all_of_slow, timeout=30)
    assert updates[0]["kind"] == "opened" and updates[0]["note"] == token
    ids = [u["update_id"] for u in updates]
    assert ids == sorted(set(ids)), "each update once, in the order queued"
    assert updates[-1]["step"] == "dispatch_update" and updates[-1]["_slow_calls_open"] == 0


async def _incident_with_a_call_out(stack, gateway, helpers, token: str, *, seconds: float, born: int) -> str:
    """An incident whose opening 120 takes `seconds` to answer; returns once that call is out with 120."""
    await _fake_120(stack, "/_fake/slow", method="POST", json={"containing": token, "seconds": seconds, "requests": 1})
    caller = await scenario.resident(gateway, born=born)
    spot = {"lat": round(random.uniform(39.80, 40.00), 5), "lon": round(random.uniform(116.25, 116.50), 5)}
    opened = await gateway.post("/api/v1/incidents", headers=caller.headers, json={"position": spot, "note": token})
    assert opened.status_code == 201, opened.text

    async def slow_call_open() -> bool:
        return (await _fake_120(stack, "/_fake/slow"))["open"] == 1

    assert await helpers.eventually(slow_call_open, timeout=30, interval=0.05)
    return opened.json()["id"]


async def test_updates_out_with_120_when_aed_is_killed_go_again_once_its_lease_runs_out(stack, gateway, helpers):
    """kill -9 of svc-aed while 120 is answering a call: the call's updates are leased to the dead process; once
    the lease runs out the restarted service sends them again, with the steps queued since, in order. 120 may
    have taken the first call too: it has each update's id to tell a repeat."""
    token = f"killed-{uuid.uuid4().hex}"
    incident = await _incident_with_a_call_out(stack, gateway, helpers, token, seconds=2.5, born=1961)
    await asyncio.to_thread(stack.restart, "aed", crash=True)
    partner = await scenario.partner(gateway, "emergency-120")
    step = await gateway.post(
        f"/api/v1/incidents/{incident}/updates", headers=partner, json={"status": "ambulance_dispatched"}
    )
    assert step.status_code == 200, step.text

    async def sent_again():
        got = await _fake_120(stack, "/_fake/updates", params={"incident_id": incident})
        return got if any(u.get("step") == "dispatch_update" for u in got) else None

    updates = await helpers.eventually(sent_again, timeout=60)
    openings = [i for i, u in enumerate(updates) if u["kind"] == "opened"]
    assert len(openings) == 2 and updates[openings[0]] == updates[openings[1]], "the opening went again"
    again = updates[openings[1] :]
    ids = [u["update_id"] for u in again]
    assert ids == sorted(set(ids)) and again[-1]["step"] == "dispatch_update", "in order, the new step last"


async def test_a_restart_of_aed_lets_a_call_out_with_120_finish_and_sends_nothing_twice(stack, gateway, helpers, sql):
    """A restart (SIGTERM: a deploy) while 120 is answering a call: the stopping service waits for the answer and
    records it, so the update neither waits for its lease nor goes twice."""
    token = f"restarted-{uuid.uuid4().hex}"
    incident = await _incident_with_a_call_out(stack, gateway, helpers, token, seconds=2.0, born=1963)
    await asyncio.to_thread(stack.restart, "aed")

    async def recorded() -> bool:
        pending = await sql["aed"].scalar(
            "SELECT count(*) FROM dispatch_updates WHERE incident_id = :i AND delivered_at IS NULL",
            i=uuid.UUID(incident),
        )
        return pending == 0

    assert await helpers.eventually(recorded, timeout=60)
    updates = await _fake_120(stack, "/_fake/updates", params={"incident_id": incident})
    ids = [u["update_id"] for u in updates]
    assert updates[0]["kind"] == "opened" and ids == sorted(set(ids)), "each update once, in order"


async def test_120_takes_only_requests_signed_with_the_shared_secret_and_recent(stack):
    """The fake 120 checks signatures as svc-aed's README tells 120 to (its own code, not svc-aed's); every
    update svc-aed sent in the other tests arrived through it. A request signed too long ago, with another
    secret, over another body or not at all is refused."""
    body = json.dumps({"incident_id": str(uuid.uuid4()), "updates": []}).encode()
    now = datetime.now(UTC)
    async with httpx.AsyncClient(base_url=stack.url("dispatch120")) as client:
        refused_before = len((await client.get("/_fake/refused")).json())
        good = signed_headers(stack.dispatch_secret, body, at=now)
        assert (await client.post("/incident-updates", content=body, headers=good)).status_code == 200
        for headers, content in [
            (signed_headers(stack.dispatch_secret, body, at=now - timedelta(minutes=6)), body),  # a replay
            (signed_headers("not the shared secret", body, at=now), body),
            (good, body.replace(b'"updates": []', b'"updates": [{}]')),
            ({"Content-Type": "application/json"}, body),
        ]:
            answer = await client.post("/incident-updates", content=content, headers=headers)
            assert answer.status_code == 401, answer.text
        refused = (await client.get("/_fake/refused")).json()[refused_before:]
    assert refused == ["timestamp outside the window", "bad signature", "bad signature", "unsigned"]


async def test_an_alert_leaves_when_its_commit_wakes_the_delivery_not_at_a_poll(stack, gateway, helpers):
    """With identity's delivery poll an hour apart, an SOS alert still reaches the responder's WeChat: the commit
    that stores the alert wakes the delivery loop."""
    stack.extra_env["IDENTITY_NOTIFICATION_INTERVAL_S"] = "3600"
    stack.children["identity"].env = stack.service_env("identity")
    stack.restart("identity")
    try:
        spot = {"lat": round(random.uniform(39.80, 40.00), 5), "lon": round(random.uniform(116.25, 116.50), 5)}
        responder = await scenario.responder(gateway)
        await _on_duty(gateway, helpers, responder, _near(spot, 40))
        caller = await scenario.resident(gateway, born=1975)
        opened = await gateway.post("/api/v1/incidents", headers=caller.headers, json={"position": spot})
        assert opened.status_code == 201, opened.text
        incident = opened.json()["id"]

        async def alerted():
            async with httpx.AsyncClient(base_url=stack.url("wechat")) as wechat:
                sent = (await wechat.get("/_fake/subscribe-messages", params={"touser": responder.openid})).json()
            return [m for m in sent if m["page"].endswith(incident)]

        assert await helpers.eventually(alerted, timeout=30), "the alert waited for a poll"
    finally:
        del stack.extra_env["IDENTITY_NOTIFICATION_INTERVAL_S"]
        stack.children["identity"].env = stack.service_env("identity")
        stack.restart("identity")


async def test_each_alert_shows_how_far_it_got_and_an_unseen_one_rings_again_by_sms(stack, gateway, helpers):
    """Per responder: alerted → delivered (WeChat accepted it) → seen (opened in the app) → accepted; an alert
    WeChat delivered that nobody opens goes again by SMS, once; an accepted one carries an estimated arrival."""
    spot = {"lat": round(random.uniform(39.80, 40.00), 5), "lon": round(random.uniform(116.25, 116.50), 5)}
    aed_id = await _device_near(gateway, spot)  # 150 m north
    reader, sleeper, walker = team = [await scenario.responder(gateway) for _ in range(3)]
    phones = {p.person_id: await scenario.proven_phone(stack, gateway, p) for p in (reader, sleeper)}
    for n, person in enumerate(team):  # 100, 200 and 300 m north of the patient
        await _on_duty(gateway, helpers, person, _near(spot, 100 * (n + 1)))
    caller = await scenario.resident(gateway, born=1970)
    incident = (await gateway.post("/api/v1/incidents", headers=caller.headers, json={"position": spot})).json()["id"]
    path = f"/api/v1/incidents/{incident}"

    opened = await gateway.post(path + "/seen", headers=reader.headers)
    assert opened.status_code == 200 and opened.json()["my_status"] == "sent"
    accepted = await gateway.post(path + "/responses", headers=walker.headers, json={"accept": True})
    assert (accepted.json()["my_role"], accepted.json()["aed_id"]) == ("fetch_aed", aed_id)  # the AED is on the way
    stranger = await scenario.responder(gateway)
    assert (await gateway.post(path + "/seen", headers=stranger.headers)).status_code == 404

    async def sleeper_texted():
        return [m for m in await scenario.texts(stack, phones[sleeper.person_id]) if m["template_id"] == alert.id]

    alert = scenario.sms_template("incident_alert")
    [text] = await helpers.eventually(sleeper_texted, timeout=30)
    metres = int(text["template_params"][alert.params.index("status")].split("约")[1].split("米")[0])
    assert 195 <= metres <= 205  # the sleeper stands 200 m away

    async def reported():
        got = (await gateway.get(path, headers=caller.headers)).json()
        mine = {a["responder_id"]: a for a in got["alerts"]}
        return (got, mine) if mine[sleeper.person_id]["delivered_by"] == ["wechat", "sms"] else None

    whole, alerts = await helpers.eventually(reported, timeout=30)
    assert [alerts[p.person_id]["progress"] for p in team] == ["seen", "delivered", "accepted"]
    assert alerts[sleeper.person_id]["resent_at"] and alerts[sleeper.person_id]["seen_at"] is None
    assert alerts[reader.person_id]["delivered_by"] == ["wechat"] and alerts[reader.person_id]["seen_at"]
    assert [m for m in await scenario.texts(stack, phones[reader.person_id]) if m["template_id"] == alert.id] == []

    # 300 m straight through the AED: 300 × 1.4 street detour / 2.0 m/s + 45 s at the cabinet.
    fetching = alerts[walker.person_id]
    eta = datetime.fromisoformat(fetching["eta_at"]) - datetime.fromisoformat(fetching["answered_at"])
    assert 250 <= eta.total_seconds() <= 260, eta
    assert whole["aed_eta_at"] == fetching["eta_at"] == whole["first_responder_eta_at"]
    staff_view = (await gateway.get(path, headers=await scenario.staff(gateway, "admin"))).json()
    assert staff_view["aed_eta_at"] == fetching["eta_at"]

    await asyncio.sleep(3)  # the sweep runs every second: the sleeper is texted once, not every sweep
    assert len(await sleeper_texted()) == 1
