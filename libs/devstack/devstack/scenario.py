"""People made through the public API (for end-to-end tests and benchmarks): verified residents, trained
volunteers, elders holding granted coins. Each returns the person's id, openid and fresh bearer headers
(signed in again after the facts changed, so the token carries the new roles)."""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx

from devstack.people import resident_number
from identity.settings import IdentitySettings, SmsTemplate

PASSWORD = "demo-password-2026"


@dataclass
class Person:
    person_id: str
    openid: str
    headers: dict[str, str]


async def sign_in(client: httpx.AsyncClient, openid: str) -> Person:
    response = await client.post("/api/v1/auth/wechat-login", json={"code": f"dev-{openid}"})
    assert response.status_code == 200, response.text
    body = response.json()
    return Person(body["person_id"], openid, {"Authorization": f"Bearer {body['access_token']}"})


async def staff(client: httpx.AsyncClient, username: str) -> dict[str, str]:
    response = await client.post(
        "/api/v1/auth/token", data={"grant_type": "password", "username": username, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def resident(client: httpx.AsyncClient, *, born: int, district: str = "110105", name: str = "张明") -> Person:
    openid = uuid.uuid4().hex
    person = await sign_in(client, openid)
    verified = await client.post(
        "/api/v1/me/real-name",
        headers=person.headers,
        json={"name": name, "id_number": resident_number(born, region=district)},
    )
    assert verified.status_code == 200, verified.text
    residence = await client.put(
        "/api/v1/me/residence", headers=person.headers, json={"district": district, "permanent_resident": True}
    )
    assert residence.status_code == 200, residence.text
    return await sign_in(client, openid)


async def volunteer(client: httpx.AsyncClient, *, district: str = "110105", born: int = 1990) -> Person:
    person = await resident(client, born=born, district=district, name="李志愿")
    institution = await staff(client, "institution")
    trained = await client.post(
        f"/api/v1/people/{person.person_id}/training",
        headers=institution,
        json={"kind": "volunteer", "completed_on": "2026-11-01"},
    )
    assert trained.status_code == 201 and "volunteer" in trained.json()["roles"], trained.text
    return await sign_in(client, person.openid)


async def elder_with_coins(
    client: httpx.AsyncClient, minutes: int, *, district: str = "110105", born: int = 1948, timeout: float = 30
) -> Person:
    """A special elder of the district granted `minutes` by its office (0: no coins at all)."""
    person = await resident(client, born=born, district=district, name="王秀英")
    if minutes:
        await special_grant(client, person.person_id, minutes, district=district, timeout=timeout)
    return person


async def special_grant(
    client: httpx.AsyncClient, person_id: str, minutes: int, *, district: str = "110105", timeout: float = 30
) -> None:
    """The district office marks the person 高龄 and grants them `minutes` (once the ledger has heard of it)."""
    officer = await staff(client, f"officer-{district}")
    marked = await client.post(
        f"/api/v1/people/{person_id}/special-groups",
        headers=officer,
        json={"categories": ["advanced_age"], "reason": "年满80周岁"},
    )
    assert marked.status_code == 200, marked.text
    key = {"Idempotency-Key": uuid.uuid4().hex}
    body = {"person_id": person_id, "amount": minutes, "reason": "高龄老人补贴"}
    deadline = asyncio.get_running_loop().time() + timeout
    while True:  # the ledger learns the categories from identity's events
        granted = await client.post("/api/v1/grants", headers=officer | key, json=body)
        if granted.status_code in (200, 201):
            return
        assert asyncio.get_running_loop().time() < deadline, granted.text
        await asyncio.sleep(0.2)


async def partner(
    client: httpx.AsyncClient, client_id: str = "volunteer-beijing", secret: str = "demo-partner-secret-2026"
) -> dict[str, str]:
    response = await client.post(
        "/api/v1/auth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def responder(
    client: httpx.AsyncClient, *, certificate_expires_on: str = "2028-12-31", born: int = 1988
) -> Person:
    """A verified resident with a first-aid certificate recorded by an institution (identity's responder role
    while it is valid)."""
    person = await resident(client, born=born, name="赵急救")
    institution = await staff(client, "institution")
    trained = await client.post(
        f"/api/v1/people/{person.person_id}/training",
        headers=institution,
        json={
            "kind": "first_aid",
            "completed_on": "2026-10-01",
            "certificate_number": f"FA-{uuid.uuid4().hex[:8]}",
            "certificate_expires_on": certificate_expires_on,
        },
    )
    assert trained.status_code == 201, trained.text
    return await sign_in(client, person.openid)


PLACE = {"lat": 39.9219, "lon": 116.4436}  # 朝阳, WGS-84
CHAT_ITEM = "00000000-0000-4000-8000-0000000c0101"  # 情感慰藉 · 陪伴聊天 (city-wide)


async def confirmed_child(client: httpx.AsyncClient, child: Person, parent: Person) -> str:
    """`child` claims `parent` as their parent and the parent confirms (identity); the link's id. Other services
    hear of it from identity's events, a moment later."""
    claimed = await client.post(
        "/api/v1/kinships", headers=child.headers, json={"relative_id": parent.person_id, "relation": "parent"}
    )
    assert claimed.status_code == 201, claimed.text
    confirmed = await client.post(f"/api/v1/kinships/{claimed.json()['id']}/confirm", headers=parent.headers)
    assert confirmed.status_code == 200, confirmed.text
    return claimed.json()["id"]


async def until(check, *, timeout: float = 30, what: str = "condition"):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result:
            return result
        assert asyncio.get_running_loop().time() < deadline, f"{what} never happened"
        await asyncio.sleep(0.2)


async def known_volunteer(client: httpx.AsyncClient, volunteer: Person) -> None:
    """Wait until matching has heard (from identity's events) that the person may serve."""

    async def searching():
        return (
            await client.get(f"/api/v1/requests?near={PLACE['lat']},{PLACE['lon']}", headers=volunteer.headers)
        ).status_code == 200

    await until(searching, what="matching learning the volunteer role")


async def request_awaiting_review(
    client: httpx.AsyncClient,
    elder: Person,
    *,
    hours_ahead: float,
    minutes: int = 60,
    item: str = CHAT_ITEM,
    category: str = "emotional_comfort",
    position: dict | None = None,
    volunteers: int = 1,
    address: str = "朝阳区幸福里8号",
    notes: str | None = None,
) -> str:
    """An elder's request in 朝阳, held by the ledger and waiting in the district's review queue."""
    start = (datetime.now(UTC) + timedelta(hours=hours_ahead)).replace(microsecond=0)
    published = await client.post(
        "/api/v1/requests",
        headers=elder.headers,
        json={
            "category": category,
            "item_id": item,
            "position": position or PLACE,
            "address": address,
            "district": "110105",
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(minutes=minutes)).isoformat(),
            "volunteers_needed": volunteers,
            "notes": notes,
        },
    )
    assert published.status_code == 201, published.text
    request_id = published.json()["id"]

    async def awaiting_review():
        state = (await client.get(f"/api/v1/requests/{request_id}", headers=elder.headers)).json()["state"]
        return state == "awaiting_review"

    await until(awaiting_review, what="the ledger's hold")
    return request_id


async def approved_request(
    client: httpx.AsyncClient,
    elder: Person,
    *,
    hours_ahead: float,
    minutes: int = 60,
    item: str = CHAT_ITEM,
    category: str = "emotional_comfort",
    position: dict | None = None,
    volunteers: int = 1,
    address: str = "朝阳区幸福里8号",
    reviewer: str = "officer-110105",
) -> str:
    """An elder's request, held by the ledger and approved by a reviewer of the district: open for booking."""
    request_id = await request_awaiting_review(
        client,
        elder,
        hours_ahead=hours_ahead,
        minutes=minutes,
        item=item,
        category=category,
        position=position,
        volunteers=volunteers,
        address=address,
    )
    reviewed = await client.post(
        f"/api/v1/requests/{request_id}/review",
        headers=await staff(client, reviewer),
        json={"decision": "approve", "note": "情况属实"},
    )
    assert reviewed.status_code == 200 and reviewed.json()["state"] == "open", reviewed.text
    return request_id


def sms_template(name: str) -> SmsTemplate:
    """Identity's default SMS template of that name (the id Tencent approved, the fields in order)."""
    return IdentitySettings.model_fields["sms_templates"].default[name]


async def texts(stack, phone: str) -> list[dict]:
    """What the fake SMS provider was asked to send to `phone`."""
    async with httpx.AsyncClient(base_url=stack.url("tencentcloud")) as sms:
        return (await sms.get("/_fake/sms", params={"phone": phone})).json()


async def proven_phone(stack, client: httpx.AsyncClient, person: Person) -> str:
    """A fresh number saved and proven with the code texted to it."""
    phone = "139" + "".join(random.choice("0123456789") for _ in range(8))
    saved = await client.put("/api/v1/me/phone", headers=person.headers, json={"phone": phone})
    assert saved.status_code == 202 and saved.json()["pending_masked"] == phone[:3] + "****" + phone[-4:]
    [text] = await texts(stack, phone)
    assert text["template_id"] == sms_template("phone_verification").id
    proven = await client.post(
        "/api/v1/me/phone/verification", headers=person.headers, json={"code": text["template_params"][0]}
    )
    assert proven.status_code == 200 and proven.json()["phone_masked"] == phone[:3] + "****" + phone[-4:]
    return phone
