"""What a delivered service leaves behind: the volunteer's record and star level, 志愿北京's feed and signed
claim evidence, the district's statistics; an institution signing for a volunteer without a phone; the
catalogue kept by district offices."""

import base64
import json
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from devstack import scenario

PLACE = scenario.PLACE


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


async def _served(gateway, helpers, clock, *, by_institution: bool = False):
    """A completed 60-minute service; the institution signs in and out for the volunteer if asked."""
    elder = await scenario.elder_with_coins(gateway, 600)
    volunteer = await scenario.volunteer(gateway)

    await scenario.known_volunteer(gateway, volunteer)
    request_id = await scenario.approved_request(gateway, elder, hours_ahead=2, reviewer="institution")
    institution = await scenario.staff(gateway, "institution")
    assert (await gateway.post(f"/api/v1/requests/{request_id}/booking", headers=volunteer.headers)).status_code == 201
    body: dict[str, object]
    if by_institution:
        signer, body = institution, {"volunteer_id": volunteer.person_id}
    else:
        signer, body = volunteer.headers, {"position": PLACE}
    clock.advance(hours=1, minutes=55)  # early sign-in: the minutes count from the booked start
    signed_in = await gateway.post(f"/api/v1/requests/{request_id}/check-in", headers=signer, json=body)
    assert signed_in.status_code == 200, signed_in.text
    clock.advance(hours=1, minutes=10)  # late sign-out: they count to the booked end
    signed_out = await gateway.post(f"/api/v1/requests/{request_id}/check-out", headers=signer, json=body)
    assert signed_out.status_code == 200 and signed_out.json()["request_state"] == "completed", signed_out.text
    return elder, volunteer, request_id


async def test_records_feed_and_signed_claim_evidence(stack, gateway, helpers, clock):
    _, volunteer, request_id = await _served(gateway, helpers, clock, by_institution=True)
    rated = await gateway.post(
        f"/api/v1/requests/{request_id}/rating",
        headers=await scenario.staff(gateway, "institution"),
        json={"score": 2, "comment": "电话回访：迟到"},
    )
    assert rated.status_code == 201 and rated.json() | {"rated_at": None} == {
        "score": 2,
        "comment": "电话回访：迟到",
        "channel": "institution_phone",
        "flagged": True,
        "rated_at": None,
    }

    record = (await gateway.get("/api/v1/volunteers/me/record", headers=volunteer.headers)).json()
    assert (record["services"], record["minutes_served"], record["average_rating"], record["star_level"]) == (
        1,
        60,
        2.0,
        0,
    )
    assert record["next_star"] == {"stars": 1, "at_hours": 100}

    partner = await scenario.partner(gateway)
    assert (await gateway.get("/partner/v1/service-records", headers=volunteer.headers)).status_code == 403
    seen, since = [], None
    while True:  # page through the whole feed with the cursor
        page = (
            await gateway.get(
                "/partner/v1/service-records",
                headers=partner,
                params={"limit": 2} | ({"since": since} if since else {}),
            )
        ).json()
        seen += page["records"]
        if not page["records"]:
            break
        since = page["next_cursor"]
    mine = [r for r in seen if r["record_id"] == request_id]
    assert len(mine) == 1 and mine[0]["participants"] == [{"volunteer_id": volunteer.person_id, "minutes": 60}]
    assert len({r["record_id"] for r in seen}) == len(seen)  # no record twice across pages

    evidence = (await gateway.get(f"/partner/v1/service-records/{request_id}", headers=partner)).json()
    trail = evidence["record"]["attendance"][0]
    assert trail["check_in"]["method"] == trail["check_out"]["method"] == "institution"
    assert evidence["record"]["place"]["address"] == "朝阳区幸福里8号"
    keys = (await gateway.get("/partner/v1/service-records/signing-keys", headers=partner)).json()["keys"]
    public = Ed25519PublicKey.from_public_bytes(_b64(keys[0]["x"]))
    signed = json.dumps(evidence["record"], sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    public.verify(_b64(evidence["signature"]["value"]), signed)  # raises if altered
    tampered = json.dumps(
        evidence["record"] | {"period": {"starts_at": "2026-01-01T00:00:00+00:00"}},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()
    try:
        public.verify(_b64(evidence["signature"]["value"]), tampered)
        raise AssertionError("a tampered record verified")
    except Exception as exc:  # InvalidSignature
        assert type(exc).__name__ == "InvalidSignature"


async def test_district_statistics_for_the_district_only(stack, gateway, helpers, clock):
    await _served(gateway, helpers, clock)
    chaoyang = await scenario.staff(gateway, "officer-110105")
    stats = await gateway.get("/api/v1/requests/statistics", headers=chaoyang)
    assert stats.status_code == 200, stats.text
    body = stats.json()
    assert body["district"] == "110105" and body["minutes_served"] >= 60 and body["services"] >= 1
    assert any(
        r["category"] == "emotional_comfort" and r["state"] == "completed" for r in body["by_category_and_state"]
    )
    assert (await gateway.get("/api/v1/requests/statistics?district=110108", headers=chaoyang)).status_code == 403
    assert (
        await gateway.get("/api/v1/requests/statistics", headers=await scenario.staff(gateway, "institution"))
    ).status_code == 403
    admin = await gateway.get(
        "/api/v1/requests/statistics?district=110108", headers=await scenario.staff(gateway, "admin")
    )
    assert admin.status_code == 200 and admin.json()["district"] == "110108"


async def test_districts_keep_their_own_catalogue_items(stack, gateway, helpers):
    chaoyang = await scenario.staff(gateway, "officer-110105")
    haidian = await scenario.staff(gateway, "officer-110108")
    name = f"夜间陪护-{datetime.now(UTC).timestamp():.0f}"
    added = await gateway.post(
        "/api/v1/service-catalog/items",
        headers=chaoyang,
        json={"category": "assistance", "name": name, "max_minutes": 600, "night_service": True},
    )
    assert added.status_code == 201, added.text
    item = added.json()
    assert item["district"] == "110105" and item["night_service"] is True
    assert (
        await gateway.post(
            "/api/v1/service-catalog/items", headers=chaoyang, json={"category": "assistance", "name": name}
        )
    ).status_code == 409
    assert (
        await gateway.patch(f"/api/v1/service-catalog/items/{item['id']}", headers=haidian, json={"max_minutes": 60})
    ).status_code == 403
    edited = await gateway.patch(
        f"/api/v1/service-catalog/items/{item['id']}", headers=chaoyang, json={"max_minutes": 480}
    )
    assert edited.status_code == 200 and edited.json()["max_minutes"] == 480

    elder = await scenario.resident(gateway, born=1950)
    listed = (await gateway.get("/api/v1/service-catalog?district=110105", headers=elder.headers)).json()
    assert [c["name"] for c in listed][:2] == ["情感慰藉", "协助服务"] and len(listed) == 8
    assert name in [i["name"] for c in listed for i in c["items"]]
    elsewhere = (await gateway.get("/api/v1/service-catalog?district=110108", headers=elder.headers)).json()
    assert name not in [i["name"] for c in elsewhere for i in c["items"]]

    assert (await gateway.post(f"/api/v1/service-catalog/items/{item['id']}/retire", headers=chaoyang)).json()[
        "retired"
    ]
    start = datetime.now(UTC) + timedelta(hours=3)
    refused = await gateway.post(
        "/api/v1/requests",
        headers=elder.headers,
        json={
            "category": "assistance",
            "item_id": item["id"],
            "position": PLACE,
            "address": "朝阳区幸福里8号",
            "district": "110105",
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(hours=1)).isoformat(),
        },
    )
    assert refused.status_code == 422 and refused.json()["type"].endswith("/unknown-service-item")
