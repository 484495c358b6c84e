"""Roles from facts: elder, volunteer (verified, permanent resident, 18+, trained), responder (valid first-aid
certificate, lapsing by itself); every grant and revocation is an event naming who and why. Special-elder
categories: officers of the elder's district, verified elders of 60+ only."""

import base64
import json
from datetime import UTC, date, datetime, timedelta

from devstack import people
from identity.domain import roles
from servicekit.db import Database
from servicekit.events import CloudEvent


def bearer(token: dict) -> dict:
    return {"Authorization": f"Bearer {token['access_token']}"}


def resident_number(born: str) -> str:
    """For someone born on `born` (YYYYMMDD): the day matters, a minor of 14 must not turn out 13."""
    return people.resident_number(born, region="110108")


async def _person(
    gateway, helpers, *, born: str = "19900101", permanent: bool = True, district: str = "110108"
) -> dict:
    person = await helpers.login(gateway)
    assert (
        await gateway.post(
            "/api/v1/me/real-name", headers=bearer(person), json={"name": "李明", "id_number": resident_number(born)}
        )
    ).status_code == 200
    assert (
        await gateway.put(
            "/api/v1/me/residence", headers=bearer(person), json={"district": district, "permanent_resident": permanent}
        )
    ).status_code == 200
    return person


async def _role_events(sql, person_id: str) -> list[tuple[str, str, str | None]]:
    rows = await sql["identity"].rows(
        "SELECT event_type, payload FROM outbox WHERE key = :k AND event_type LIKE"
        " 'timebank.identity.role.%' ORDER BY id",
        k=person_id,
    )
    events = [CloudEvent.model_validate_json(p) for _, p in rows]
    return [
        (e.type.rsplit(".", 1)[1], e.data["role"], e.data.get("granted_by") or e.data.get("revoked_by")) for e in events
    ]


def _claims(access_token: str) -> dict:
    payload = access_token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


async def test_a_trained_adult_resident_becomes_a_volunteer_and_the_token_says_so(gateway, helpers, sql):
    person = await _person(gateway, helpers)
    institution = await helpers.staff_headers(gateway, "institution")
    assert (
        await gateway.post(
            f"/api/v1/people/{person['person_id']}/training",
            headers=bearer(person),
            json={"kind": "volunteer", "completed_on": "2026-11-01"},
        )
    ).status_code == 403
    recorded = await gateway.post(
        f"/api/v1/people/{person['person_id']}/training",
        headers=institution,
        json={"kind": "volunteer", "completed_on": "2026-11-01"},
    )
    assert recorded.status_code == 201 and recorded.json()["roles"] == ["elder", "volunteer"]
    me = (await gateway.get("/api/v1/me", headers=bearer(person))).json()
    assert me["roles"] == ["elder", "volunteer"]
    refreshed = await gateway.post("/api/v1/auth/refresh", json={"refresh_token": person["refresh_token"]})
    assert _claims(refreshed.json()["access_token"])["roles"] == ["elder", "volunteer"]
    institution_id = _claims(institution["Authorization"].split()[1])["sub"]
    assert await _role_events(sql, person["person_id"]) == [
        ("granted", "elder", person["person_id"]),
        ("granted", "volunteer", institution_id),
    ]


async def test_no_volunteer_role_without_permanent_residence_or_under_18(gateway, helpers):
    institution = await helpers.staff_headers(gateway, "institution")
    for person, expected in (
        (await _person(gateway, helpers, permanent=False), ["elder"]),
        (await _person(gateway, helpers, born="20120601"), []),
    ):  # a minor is no elder either
        recorded = await gateway.post(
            f"/api/v1/people/{person['person_id']}/training",
            headers=institution,
            json={"kind": "volunteer", "completed_on": "2026-11-01"},
        )
        assert recorded.json()["roles"] == expected


async def test_a_responder_role_lapses_by_itself_when_the_certificate_expires(stack, gateway, helpers, sql):
    person = await _person(gateway, helpers)
    institution = await helpers.staff_headers(gateway, "institution")
    bad = await gateway.post(
        f"/api/v1/people/{person['person_id']}/training",
        headers=institution,
        json={"kind": "first_aid", "completed_on": "2026-11-01"},
    )
    assert bad.status_code == 422
    expires = date.today() + timedelta(days=10)
    recorded = await gateway.post(
        f"/api/v1/people/{person['person_id']}/training",
        headers=institution,
        json={
            "kind": "first_aid",
            "completed_on": "2026-11-01",
            "certificate_number": "RC-1",
            "certificate_expires_on": expires.isoformat(),
        },
    )
    assert "responder" in recorded.json()["roles"]
    db = Database(stack.database_url["identity"], pool_size=1)
    try:
        assert await roles.lapse_expired_roles(db, now=datetime.now(UTC) + timedelta(days=5)) == 0
        assert await roles.lapse_expired_roles(db, now=datetime.now(UTC) + timedelta(days=12)) >= 1
    finally:
        await db.dispose()
    assert "responder" not in (await gateway.get("/api/v1/me", headers=bearer(person))).json()["roles"]
    assert ("revoked", "responder", "system") in await _role_events(sql, person["person_id"])
    reason = await sql["identity"].scalar(
        "SELECT revoke_reason FROM role_grants WHERE person_id = :p AND role = 'responder'", p=person["person_id"]
    )
    assert reason == roles.EXPIRED_CERTIFICATE


async def test_special_groups_need_a_verified_elder_of_60_in_the_officers_district(gateway, helpers, sql):
    haidian = await helpers.staff_headers(gateway, "officer-110108")
    chaoyang = await helpers.staff_headers(gateway, "officer-110105")
    young, elder = await _person(gateway, helpers), await _person(gateway, helpers, born="19440301")
    unverified = await helpers.login(gateway)
    body = {"categories": ["advanced_age"], "reason": "年满80周岁"}
    assert (
        await gateway.post(f"/api/v1/people/{young['person_id']}/special-groups", headers=haidian, json=body)
    ).status_code == 422
    assert (
        await gateway.post(f"/api/v1/people/{unverified['person_id']}/special-groups", headers=haidian, json=body)
    ).status_code == 403  # no declared residence in 海淀
    assert (
        await gateway.post(f"/api/v1/people/{elder['person_id']}/special-groups", headers=chaoyang, json=body)
    ).status_code == 403
    assert (
        await gateway.get(f"/api/v1/people/{elder['person_id']}/special-groups", headers=chaoyang)
    ).status_code == 403
    other = await gateway.post(
        f"/api/v1/people/{elder['person_id']}/special-groups",
        headers=haidian,
        json={"categories": ["other"], "reason": "独居"},
    )
    assert other.status_code == 422
    assert (
        await gateway.post(f"/api/v1/people/{elder['person_id']}/special-groups", headers=haidian, json=body)
    ).status_code == 200
    cleared = await gateway.post(
        f"/api/v1/people/{elder['person_id']}/special-groups",
        headers=haidian,
        json={"categories": [], "reason": "复核不再符合"},
    )
    assert cleared.json()["categories"] == []
    payloads = await sql["identity"].rows(
        "SELECT payload FROM outbox WHERE key = :k AND event_type = 'timebank.identity.special-groups.set' ORDER BY id",
        k=elder["person_id"],
    )
    assert [CloudEvent.model_validate_json(p).data["categories"] for (p,) in payloads] == [["advanced_age"], []]


async def test_a_trained_minor_volunteers_only_with_a_confirmed_guardian(gateway, helpers, sql):
    minor = await _person(gateway, helpers, born="20120601")
    guardian = await _person(gateway, helpers, born="19800101")
    stranger = await helpers.login(gateway)
    institution = await helpers.staff_headers(gateway, "institution")
    trained = await gateway.post(
        f"/api/v1/people/{minor['person_id']}/training",
        headers=institution,
        json={"kind": "volunteer", "completed_on": "2026-11-01"},
    )
    assert trained.json()["roles"] == []  # a minor asks for no services

    assert (
        await gateway.post("/api/v1/guardianships", headers=bearer(minor), json={"minor_id": guardian["person_id"]})
    ).status_code == 422  # the ward must be a minor
    claimed = await gateway.post(
        "/api/v1/guardianships", headers=bearer(guardian), json={"minor_id": minor["person_id"]}
    )
    assert claimed.status_code == 201 and claimed.json()["status"] == "pending"
    path = f"/api/v1/guardianships/{claimed.json()['id']}"
    # The minor finds the guardianship to confirm in their own list (they were never told its id).
    [waiting] = (
        await gateway.get("/api/v1/guardianships", headers=bearer(minor), params={"status": "pending"})
    ).json()["items"]
    assert (waiting["id"], waiting["my_part"], waiting["awaiting_me"]) == (claimed.json()["id"], "minor", True)
    [claimed_view] = (await gateway.get("/api/v1/guardianships", headers=bearer(guardian))).json()["items"]
    assert (claimed_view["my_part"], claimed_view["awaiting_me"]) == ("guardian", False)
    assert (await gateway.get("/api/v1/guardianships", headers=bearer(stranger))).json() == {
        "items": [],
        "next_cursor": None,
    }
    assert (await gateway.post(path + "/confirm", headers=bearer(guardian))).status_code == 403
    assert (await gateway.post(path + "/confirm", headers=bearer(stranger))).status_code == 403
    assert (await gateway.post(path + "/confirm", headers=institution)).status_code == 422  # staff need a document
    assert (await gateway.post(path + "/confirm", headers=bearer(minor))).json()["status"] == "confirmed"
    assert (await gateway.get("/api/v1/me", headers=bearer(minor))).json()["roles"] == ["volunteer"]

    revoked = await gateway.post(path + "/revoke", headers=institution, json={"reason": "监护关系变更"})
    assert revoked.json()["status"] == "revoked"
    assert (await gateway.get("/api/v1/me", headers=bearer(minor))).json()["roles"] == []
    events = await _role_events(sql, minor["person_id"])
    assert [e[:2] for e in events] == [("granted", "volunteer"), ("revoked", "volunteer")]


async def test_an_officer_checks_a_declared_residence_and_a_refusal_withdraws_the_volunteer_role(gateway, helpers):
    person = await _person(gateway, helpers)  # a 海淀 resident
    institution = await helpers.staff_headers(gateway, "institution")
    await gateway.post(
        f"/api/v1/people/{person['person_id']}/training",
        headers=institution,
        json={"kind": "volunteer", "completed_on": "2026-11-01"},
    )
    path = f"/api/v1/people/{person['person_id']}/residence-check"
    chaoyang = await helpers.staff_headers(gateway, "officer-110105")
    haidian = await helpers.staff_headers(gateway, "officer-110108")
    assert (
        await gateway.post(path, headers=chaoyang, json={"confirmed": False, "note": "查无此人"})
    ).status_code == 403
    checked = await gateway.post(path, headers=haidian, json={"confirmed": True, "note": "户口簿已核"})
    assert checked.status_code == 200 and checked.json()["permanent_resident"] is True
    refused = await gateway.post(path, headers=haidian, json={"confirmed": False, "note": "户籍已迁出"})
    assert refused.json()["permanent_resident"] is False
    assert (await gateway.get("/api/v1/me", headers=bearer(person))).json()["roles"] == ["elder"]


async def test_me_shows_the_district_of_residence_once_declared(gateway, helpers):
    person = await helpers.login(gateway)
    assert (await gateway.get("/api/v1/me", headers=bearer(person))).json()["district"] is None
    await gateway.put(
        "/api/v1/me/residence", headers=bearer(person), json={"district": "110105", "permanent_resident": True}
    )
    assert (await gateway.get("/api/v1/me", headers=bearer(person))).json()["district"] == "110105"


async def test_a_missing_role_says_which_and_that_a_refresh_picks_up_a_new_grant(gateway, helpers):
    person = await helpers.login(gateway)
    refused = await gateway.post(
        "/api/v1/people",
        headers={**bearer(person), "Accept-Language": "en"},
        json={"name": "王芳", "id_number": resident_number("19500101"), "district": "110108"},
    )
    assert refused.status_code == 403
    assert refused.json()["required_roles"] == ["institution_operator"] and "refresh" in refused.json()["detail"]
