"""No birth date leaves identity, even by arithmetic: `person.verified` carries the facts as they stand, and a
birthday that makes a new fact true (18, 60) is announced on its day — the ledger then redeems the holder's own
coins without ever having held a date."""

import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from devstack import people

BEIJING = ZoneInfo("Asia/Shanghai")


async def test_turning_60_is_told_on_the_day_and_no_event_carries_a_date_of_birth(gateway, helpers, sql, clock):
    today = datetime.now(UTC).astimezone(BEIJING).date()
    sixtieth = today + timedelta(days=2)
    born = date(sixtieth.year - 60, sixtieth.month, sixtieth.day if (sixtieth.month, sixtieth.day) != (2, 29) else 28)
    person = await helpers.login(gateway)
    pid, headers = person["person_id"], {"Authorization": f"Bearer {person['access_token']}"}
    verified = await gateway.post(
        "/api/v1/me/real-name",
        headers=headers,
        json={"name": "赵大爷", "id_number": people.resident_number(born.strftime("%Y%m%d"))},
    )
    assert verified.status_code == 200, verified.text

    facts = json.loads(
        await sql["identity"].scalar(
            "SELECT payload FROM outbox WHERE key = :p AND event_type = 'timebank.identity.person.verified'", p=pid
        )
    )["data"]
    assert set(facts) == {"person_id", "verified_at", "adult", "redemption_age"}
    assert facts["adult"] is True and facts["redemption_age"] is False

    redeems = "SELECT redemption_age FROM holders WHERE person_id = :p"
    assert await helpers.eventually(
        lambda: sql["ledger"].scalar("SELECT count(*) FROM holders WHERE person_id = :p AND district IS NULL", p=pid),
        timeout=30,
    )
    assert await sql["ledger"].scalar(redeems, p=pid) is False

    clock.advance(hours=72)  # past the 60th birthday
    told = (
        "SELECT count(*) FROM outbox WHERE key = :p AND event_type = 'timebank.identity.person.reached-redemption-age'"
    )
    assert await helpers.eventually(lambda: sql["identity"].scalar(told, p=pid), timeout=30) == 1
    assert await helpers.eventually(lambda: sql["ledger"].scalar(redeems, p=pid), timeout=30) is True
    came_of_age = "SELECT count(*) FROM outbox WHERE key = :p AND event_type = 'timebank.identity.person.came-of-age'"
    assert await sql["identity"].scalar(came_of_age, p=pid) == 0  # an adult when verified: nothing more to tell
    for (payload,) in await sql["identity"].rows("SELECT payload FROM outbox WHERE key = :p", p=pid):
        assert "turns_" not in payload and born.isoformat() not in payload


async def test_a_trained_minor_becomes_elder_and_volunteer_on_the_eighteenth_birthday(gateway, helpers, clock):
    """Roles that wait for 18 are granted on the day by the age job, with no other fact changing."""
    today = datetime.now(UTC).astimezone(BEIJING).date()
    eighteenth = today + timedelta(days=2)
    born = date(
        eighteenth.year - 18, eighteenth.month, eighteenth.day if (eighteenth.month, eighteenth.day) != (2, 29) else 28
    )
    person = await helpers.login(gateway)
    pid, headers = person["person_id"], {"Authorization": f"Bearer {person['access_token']}"}
    assert (
        await gateway.post(
            "/api/v1/me/real-name",
            headers=headers,
            json={"name": "钱同学", "id_number": people.resident_number(born.strftime("%Y%m%d"))},
        )
    ).status_code == 200
    assert (
        await gateway.put(
            "/api/v1/me/residence", headers=headers, json={"district": "110105", "permanent_resident": True}
        )
    ).status_code == 200
    institution = await helpers.staff_headers(gateway, "institution")
    trained = await gateway.post(
        f"/api/v1/people/{pid}/training", headers=institution, json={"kind": "volunteer", "completed_on": "2026-11-01"}
    )
    assert trained.json()["roles"] == []  # a minor with no guardian: neither asks nor serves

    clock.advance(hours=72)  # past the 18th birthday

    async def grown_up():
        found = (await gateway.get("/api/v1/me", headers=headers)).json()["roles"]
        return found if found == ["elder", "volunteer"] else None

    assert await helpers.eventually(grown_up, timeout=30)


async def test_a_minor_volunteers_from_the_fourteenth_birthday_with_a_guardian(gateway, helpers, clock):
    """Under 14 no guardian's consent makes a volunteer; on the day they turn 14 the age job grants the role."""
    today = datetime.now(UTC).astimezone(BEIJING).date()
    fourteenth = today + timedelta(days=2)
    born = date(
        fourteenth.year - 14, fourteenth.month, fourteenth.day if (fourteenth.month, fourteenth.day) != (2, 29) else 28
    )
    minor, guardian = await helpers.login(gateway), await helpers.login(gateway)
    headers = {"Authorization": f"Bearer {minor['access_token']}"}
    guardian_headers = {"Authorization": f"Bearer {guardian['access_token']}"}
    assert (
        await gateway.post(
            "/api/v1/me/real-name",
            headers=headers,
            json={"name": "孙同学", "id_number": people.resident_number(born.strftime("%Y%m%d"))},
        )
    ).status_code == 200
    assert (
        await gateway.post(
            "/api/v1/me/real-name",
            headers=guardian_headers,
            json={"name": "孙女士", "id_number": people.resident_number("19850101")},
        )
    ).status_code == 200
    assert (
        await gateway.put(
            "/api/v1/me/residence", headers=headers, json={"district": "110105", "permanent_resident": True}
        )
    ).status_code == 200
    institution = await helpers.staff_headers(gateway, "institution")
    assert (
        await gateway.post(
            f"/api/v1/people/{minor['person_id']}/training",
            headers=institution,
            json={"kind": "volunteer", "completed_on": "2026-11-01"},
        )
    ).status_code == 201
    claimed = await gateway.post(
        "/api/v1/guardianships", headers=guardian_headers, json={"minor_id": minor["person_id"]}
    )
    assert (await gateway.post(f"/api/v1/guardianships/{claimed.json()['id']}/confirm", headers=headers)).json()[
        "status"
    ] == "confirmed"
    assert (await gateway.get("/api/v1/me", headers=headers)).json()["roles"] == []  # 13: too young, even so

    clock.advance(hours=72)  # past the 14th birthday

    async def volunteers():
        found = (await gateway.get("/api/v1/me", headers=headers)).json()["roles"]
        return found if found == ["volunteer"] else None

    assert await helpers.eventually(volunteers, timeout=30)
