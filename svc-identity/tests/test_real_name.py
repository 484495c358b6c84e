"""Real-name verification: validation, one person per number, encryption at rest, masking, derived facts."""

import uuid
from datetime import date

import pytest

from contracts.identity import PersonVerified
from identity.domain.resident_id import InvalidResidentId, check_character, mask_id_number, parse_resident_id
from servicekit.events import CloudEvent


def resident_number(region: str = "110105", born: str = "19500101", order: str = "123") -> str:
    body = region + born + order
    return body + check_character(body)


def bearer(login: dict) -> dict:
    return {"Authorization": f"Bearer {login['access_token']}"}


@pytest.mark.parametrize(
    "number,reason",
    [
        ("11010519500101123", "format"),  # 17 characters
        ("1101051950010112345", "format"),  # 19
        ("11010519500101123Y", "format"),  # not X
        (resident_number(born="19990230")[:17] + "0", "birth-date"),  # 30 February
        (resident_number(born="20991231"), "birth-date"),  # in the future
        (resident_number(region="990101"), "region-code"),  # no such region
        (resident_number()[:17] + ("0" if resident_number()[17] != "0" else "1"), "check-digit"),
    ],
)
def test_invalid_numbers_are_refused_with_the_reason(number, reason):
    with pytest.raises(InvalidResidentId) as refused:
        parse_resident_id(number, today=date(2026, 11, 30))
    assert refused.value.extra["reason"] == reason
    assert number not in str(refused.value.detail_zh) + str(refused.value.detail_en)


def test_valid_numbers_including_x_and_abolished_regions():
    x_number = next(n for n in (resident_number(order=f"{i:03d}") for i in range(1000)) if n.endswith("X"))
    assert parse_resident_id(x_number.lower(), today=date(2026, 11, 30)).number == x_number
    # 110103 (崇文区) was merged into 东城 in 2010; people born there before keep the code.
    assert parse_resident_id(resident_number(region="110103", born="19450303"), today=date(2026, 11, 30))
    resident = parse_resident_id(resident_number(born="19520229"), today=date(2026, 11, 30))
    assert (resident.turns(18), resident.turns(60)) == (date(1970, 3, 1), date(2012, 2, 29))
    assert mask_id_number("11010519500101123X") == "110105********123X"


async def test_verification_masks_everywhere_seals_at_rest_and_publishes_derived_facts_only(
    stack, gateway, helpers, sql
):
    person = await helpers.login(gateway)
    number = resident_number(born="19580615", order=f"{uuid.uuid4().int % 900 + 100:03d}")
    response = await gateway.post(
        "/api/v1/me/real-name", headers=bearer(person), json={"name": "王秀英", "id_number": number}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id_number_masked"] == number[:6] + "********" + number[-4:] and body["name_masked"] == "王**"
    assert number not in response.text and "王秀英" not in response.text
    me = (await gateway.get("/api/v1/me", headers=bearer(person))).json()
    assert me["real_name"]["id_number_masked"] == body["id_number_masked"] and me["real_name"]["age"] == 68

    row = (await sql["identity"].rows("SELECT * FROM real_names WHERE person_id = :p", p=person["person_id"]))[0]
    stored = " ".join(str(v) for v in row) + " ".join(bytes(v).hex() for v in row if isinstance(v, (bytes, memoryview)))
    assert number not in stored and number.encode().hex() not in stored and "王秀英".encode().hex() not in stored

    payload = await sql["identity"].scalar(
        "SELECT payload FROM outbox WHERE event_type = 'timebank.identity.person.verified' AND key = :p",
        p=person["person_id"],
    )
    event = CloudEvent.model_validate_json(payload)
    assert number not in payload and "19580615" not in payload and "王" not in payload
    facts = PersonVerified.read(event.data)  # facts only: no date the birth date follows from
    assert (facts.adult, facts.redemption_age) == (True, True) and "turns_" not in payload
    logs = "".join(path.read_text() for path in stack.log_dir.glob("*.log"))
    assert number not in logs


async def test_one_person_per_number_and_a_verified_number_cannot_change(gateway, helpers, sql):
    first, second = await helpers.login(gateway), await helpers.login(gateway)
    number = resident_number(born="19600101", order=f"{uuid.uuid4().int % 900 + 100:03d}")
    ok = await gateway.post("/api/v1/me/real-name", headers=bearer(first), json={"name": "李明", "id_number": number})
    assert ok.status_code == 200
    again = await gateway.post(
        "/api/v1/me/real-name", headers=bearer(first), json={"name": "李明", "id_number": number}
    )
    assert again.status_code == 200 and again.json() == ok.json()  # a retry changes nothing
    taken = await gateway.post(
        "/api/v1/me/real-name", headers=bearer(second), json={"name": "李明", "id_number": number}
    )
    assert taken.status_code == 409 and taken.json()["type"].endswith("/id-number-taken")
    other = resident_number(born="19600102")
    changed = await gateway.post(
        "/api/v1/me/real-name", headers=bearer(first), json={"name": "李明", "id_number": other}
    )
    assert changed.status_code == 409 and changed.json()["type"].endswith("/already-verified")
    assert (
        await sql["identity"].scalar(
            "SELECT count(*) FROM outbox WHERE event_type = 'timebank.identity.person.verified' AND key = :p",
            p=first["person_id"],
        )
        == 1
    )


async def test_bad_submissions_change_nothing(gateway, helpers, sql):
    person = await helpers.login(gateway)
    for body in (
        {"name": "李明", "id_number": resident_number()[:17] + "Z"},
        {"name": "1", "id_number": resident_number()},
        {"name": "李明"},
        {"name": "李明", "id_number": resident_number(region="990101")},
    ):
        response = await gateway.post("/api/v1/me/real-name", headers=bearer(person), json=body)
        assert response.status_code == 422 and response.headers["content-type"].startswith("application/problem+json")
    assert (
        await sql["identity"].scalar("SELECT count(*) FROM real_names WHERE person_id = :p", p=person["person_id"]) == 0
    )


async def _staff_token(gateway, username: str) -> dict:
    response = await gateway.post(
        "/api/v1/auth/token", data={"grant_type": "password", "username": username, "password": "demo-password-2026"}
    )
    return response.json()


async def test_unmasked_reads_are_for_auditors_with_a_purpose_and_each_is_audited(gateway, helpers, sql):
    person = await helpers.login(gateway)
    number = resident_number(born="19470808", order=f"{uuid.uuid4().int % 900 + 100:03d}")
    await gateway.post("/api/v1/me/real-name", headers=bearer(person), json={"name": "赵桂兰", "id_number": number})
    path = f"/api/v1/people/{person['person_id']}/real-name"

    auditor = await _staff_token(gateway, "auditor")
    read = await gateway.get(path, params={"purpose": "核查虚假服务记录"}, headers=bearer(auditor))
    assert read.status_code == 200 and read.json()["id_number"] == number and read.json()["name"] == "赵桂兰"
    events = [
        CloudEvent.model_validate_json(p)
        for (p,) in await sql["identity"].rows(
            "SELECT payload FROM outbox WHERE event_type = 'timebank.identity.personal-data.accessed' AND key = :p",
            p=person["person_id"],
        )
    ]
    assert len(events) == 1 and events[0].data["purpose"] == "核查虚假服务记录"
    assert events[0].data["accessor_roles"] == ["auditor"] and number not in events[0].model_dump_json()

    officer = await _staff_token(gateway, "officer-110105")
    assert (await gateway.get(path, params={"purpose": "查看"}, headers=bearer(officer))).status_code == 403
    assert (await gateway.get(path, params={"purpose": "查看一下"}, headers=bearer(person))).status_code == 403
    assert (await gateway.get(path, headers=bearer(auditor))).status_code == 422  # no purpose, no read
    assert (
        await sql["identity"].scalar(
            "SELECT count(*) FROM outbox WHERE event_type = 'timebank.identity.personal-data.accessed' AND key = :p",
            p=person["person_id"],
        )
        == 1
    )
