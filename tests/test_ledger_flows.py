"""The ledger through the gateway, fed by identity's events over Kafka: an officer makes an elder of their
district special, grants coins; the rules refuse what they must with clear problems; scopes hold."""

import os
import subprocess
import sys
import uuid

from devstack import people


def resident_number(born: str) -> str:
    return people.resident_number(int(born[:4]))


def bearer(login: dict) -> dict:
    return {"Authorization": f"Bearer {login['access_token']}"}


async def _elder(gateway, helpers, born: str = "19500101") -> dict:
    person = await helpers.login(gateway)
    headers = bearer(person)
    verified = await gateway.post(
        "/api/v1/me/real-name", headers=headers, json={"name": "王秀英", "id_number": resident_number(born)}
    )
    assert verified.status_code == 200, verified.text
    residence = await gateway.put(
        "/api/v1/me/residence", headers=headers, json={"district": "110105", "permanent_resident": True}
    )
    assert residence.status_code == 200, residence.text
    return person


async def test_an_officer_grants_coins_to_a_special_elder_of_their_district_only(stack, gateway, helpers):
    elder = await _elder(gateway, helpers)
    chaoyang = await helpers.staff_headers(gateway, "officer-110105")
    haidian = await helpers.staff_headers(gateway, "officer-110108")
    special = {"categories": ["economic_hardship", "advanced_age"], "reason": "低保户，年满80周岁"}
    path = f"/api/v1/people/{elder['person_id']}/special-groups"
    assert (await gateway.post(path, headers=haidian, json=special)).status_code == 403
    set_ = await gateway.post(path, headers=chaoyang, json=special)
    assert set_.status_code == 200 and set_.json()["labels"] == ["高龄", "经济困难"]

    grant = {"person_id": elder["person_id"], "amount": 600, "reason": "经济困难老人季度补贴"}
    key = {"Idempotency-Key": f"grant-{uuid.uuid4()}"}

    async def granted():
        response = await gateway.post("/api/v1/grants", headers=chaoyang | key, json=grant)
        return response if response.status_code == 201 else None

    first = await helpers.eventually(granted, timeout=30)  # the ledger learns the categories from Kafka
    assert first is not None
    replay = await gateway.post("/api/v1/grants", headers=chaoyang | key, json=grant)
    assert replay.status_code == 200 and replay.json() == first.json()
    assert replay.headers["idempotent-replayed"] == "true"
    changed = await gateway.post("/api/v1/grants", headers=chaoyang | key, json=grant | {"amount": 601})
    assert changed.status_code == 409 and changed.json()["type"].endswith("/idempotency-key-reused")
    other = await gateway.post("/api/v1/grants", headers=haidian | {"Idempotency-Key": "x"}, json=grant)
    assert other.status_code == 403 and other.json()["type"].endswith("/outside-district")

    account = (await gateway.get("/api/v1/accounts/me", headers=bearer(elder))).json()
    assert (account["balance"], account["redeemable_for_own_services"], account["transferable"]) == (600, 600, 0)
    statement = (await gateway.get("/api/v1/accounts/me/entries", headers=bearer(elder))).json()
    assert [(e["kind"], e["amount"], e["origin"], e["balance_after"]) for e in statement["items"]] == [
        ("grant", 600, "granted", 600)
    ]
    assert statement["next_cursor"] is None, "one entry: no empty page after it"

    liability = await gateway.get("/api/v1/accounts/liability", headers=chaoyang)
    assert any(
        r["district"] == "110105" and r["origin"] == "granted" and r["outstanding"] >= 600 for r in liability.json()
    )
    assert (await gateway.get("/api/v1/accounts/liability?district=110108", headers=chaoyang)).status_code == 403
    assert (await gateway.get(f"/api/v1/accounts/{elder['person_id']}", headers=haidian)).status_code == 403
    assert (await gateway.get(f"/api/v1/accounts/{elder['person_id']}", headers=chaoyang)).json()["balance"] == 600


async def test_refused_transfers_are_clear_problems_and_move_nothing(stack, gateway, helpers, sql):
    elder = await _elder(gateway, helpers)
    stranger = await helpers.login(gateway)
    chaoyang = await helpers.staff_headers(gateway, "officer-110105")
    await gateway.post(
        f"/api/v1/people/{elder['person_id']}/special-groups",
        headers=chaoyang,
        json={"categories": ["severe_disability"], "reason": "残疾证一级"},
    )
    grant = {"person_id": elder["person_id"], "amount": 120, "reason": "补贴"}

    async def granted():
        response = await gateway.post(
            "/api/v1/grants", headers=chaoyang | {"Idempotency-Key": str(uuid.uuid4())}, json=grant
        )
        return response.status_code == 201

    assert await helpers.eventually(granted, timeout=30)
    count = "SELECT count(*) FROM transfers"
    before = await sql["ledger"].scalar(count)
    headers = bearer(elder) | {"Idempotency-Key": str(uuid.uuid4()), "Accept-Language": "en"}

    no_key = await gateway.post(
        "/api/v1/gifts", headers=bearer(elder), json={"to_person_id": stranger["person_id"], "amount": 60}
    )
    assert no_key.status_code == 422
    to_stranger = await gateway.post(
        "/api/v1/gifts", headers=headers, json={"to_person_id": stranger["person_id"], "amount": 60}
    )
    assert to_stranger.status_code == 422 and to_stranger.json()["type"].endswith("/not-a-direct-relative")
    donation = await gateway.post("/api/v1/donations", headers=headers, json={"amount": 60})
    assert donation.status_code == 422 and donation.json()["type"].endswith("/insufficient-coins")
    assert "own services" in donation.json()["detail"]
    for bad in ({"amount": 0}, {"amount": 1.5}, {"amount": "ten"}, {}):
        assert (await gateway.post("/api/v1/donations", headers=headers, json=bad)).status_code == 422
    assert (
        await gateway.post("/api/v1/grants", headers=bearer(elder) | {"Idempotency-Key": "k"}, json=grant)
    ).status_code == 403
    assert await sql["ledger"].scalar(count) == before


def test_the_verify_command_finds_the_ledger_sound(stack):
    env = os.environ | stack.service_env("ledger")
    result = subprocess.run(
        [sys.executable, "-m", "ledger", "verify"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout and result.stdout.count("ok ") >= 6
