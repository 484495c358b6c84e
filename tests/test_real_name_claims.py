"""A 居民身份证号 already verified for another account is not a dead end (实名认证申诉): the claimant, matched to the
number by the authority, files a claim; an officer of their district decides on evidence; a transfer withdraws
the number from the account that held it and verifies the claimant, and the audit trail keeps who decided what
on which evidence."""

from __future__ import annotations

import json
import secrets

import httpx

from devstack import scenario
from devstack.people import resident_number
from devstack.stack import Stack


async def _person(gateway: httpx.AsyncClient, district: str) -> scenario.Person:
    openid = f"claim-{secrets.token_hex(6)}"
    person = await scenario.sign_in(gateway, openid)
    residence = {"district": district, "permanent_resident": True}
    assert (await gateway.put("/api/v1/me/residence", headers=person.headers, json=residence)).status_code == 200
    return await scenario.sign_in(gateway, openid)


async def test_the_owner_of_a_taken_number_gets_it_back_through_an_officer(stack: Stack, gateway, helpers, sql):
    number = resident_number(1958, region="110105")
    async with httpx.AsyncClient(base_url=stack.url("tencentcloud")) as authority:
        await authority.post("/_fake/faceid/residents", json={"id_card": number, "name": "孙丽"})
    impostor = await _person(gateway, "110105")
    taken = await gateway.post(
        "/api/v1/me/real-name", headers=impostor.headers, json={"name": "孙丽", "id_number": number}
    )
    assert taken.status_code == 200, taken.text  # someone who knew her name and number

    owner = await _person(gateway, "110105")
    refused = await gateway.post(
        "/api/v1/me/real-name", headers=owner.headers, json={"name": "孙丽", "id_number": number}
    )
    assert refused.status_code == 409 and "/api/v1/me/real-name/claims" in refused.json()["detail"], refused.text

    # Only a name the authority matches to the number may claim it, and only a number someone else holds.
    wrong = await gateway.post(
        "/api/v1/me/real-name/claims", headers=owner.headers, json={"name": "孙莉", "id_number": number}
    )
    assert wrong.status_code == 422 and wrong.json()["type"].endswith("/real-name-mismatch"), wrong.text
    free = await gateway.post(
        "/api/v1/me/real-name/claims",
        headers=owner.headers,
        json={"name": "孙丽", "id_number": resident_number(1958, region="110105")},
    )
    assert free.status_code == 409 and free.json()["type"].endswith("/id-number-not-taken"), free.text

    filed = await gateway.post(
        "/api/v1/me/real-name/claims", headers=owner.headers, json={"name": "孙丽", "id_number": number}
    )
    assert filed.status_code == 201, filed.text
    claim = filed.json()
    assert (claim["state"], claim["district"], claim["holder_id"]) == ("open", "110105", impostor.person_id)
    assert number not in filed.text and "孙丽" not in filed.text  # masked
    again = await gateway.post(
        "/api/v1/me/real-name/claims", headers=owner.headers, json={"name": "孙丽", "id_number": number}
    )
    assert again.json()["id"] == claim["id"]  # one open claim per person and number
    mine = (await gateway.get("/api/v1/me/real-name/claims", headers=owner.headers)).json()
    assert [c["id"] for c in mine] == [claim["id"]]

    # An officer of another district neither sees nor decides it; the claimant's district officer does.
    elsewhere = await helpers.staff_headers(gateway, "officer-110108")
    listed = (await gateway.get("/api/v1/real-name-claims", headers=elsewhere)).json()
    assert claim["id"] not in [c["id"] for c in listed]
    decision = {"decision": "transfer", "evidence": "查验居民身份证原件，持证人为申请人本人，人证一致"}
    url = f"/api/v1/real-name-claims/{claim['id']}/decision"
    assert (await gateway.post(url, headers=elsewhere, json=decision)).status_code == 404
    officer = await helpers.staff_headers(gateway, "officer-110105")
    assert claim["id"] in [c["id"] for c in (await gateway.get("/api/v1/real-name-claims", headers=officer)).json()]
    decided = await gateway.post(url, headers=officer, json=decision)
    assert decided.status_code == 200, decided.text
    assert (decided.json()["state"], decided.json()["evidence"]) == ("transferred", decision["evidence"])
    assert (await gateway.post(url, headers=officer, json=decision)).status_code == 409  # decided once

    owner_now = (await gateway.get("/api/v1/me", headers=owner.headers)).json()
    assert owner_now["real_name"]["id_number_masked"] == claim["id_number_masked"]
    impostor_now = (await gateway.get("/api/v1/me", headers=impostor.headers)).json()
    assert impostor_now["real_name"] is None

    async def recorded():
        rows = await sql["audit"].rows(
            "SELECT type, actor, payload FROM audit_log WHERE type LIKE 'timebank.identity.real-name%%'"
            " AND payload LIKE :claim",
            claim=f"%{claim['id']}%",
        )
        return rows if len(rows) >= 3 else None

    trail = {row.type: row for row in await helpers.eventually(recorded, timeout=30)}
    assert set(trail) == {
        "timebank.identity.real-name-claim.opened",
        "timebank.identity.real-name-claim.decided",
        "timebank.identity.real-name.withdrawn",
    }
    decided_event = trail["timebank.identity.real-name-claim.decided"]
    officer_id = (await gateway.get("/api/v1/me", headers=officer)).json()["id"]
    recorded_decision = json.loads(decided_event.payload)
    assert decided_event.actor == officer_id == recorded_decision["decided_by"]
    assert recorded_decision["evidence"] == decision["evidence"]


async def test_a_rejected_claim_leaves_the_number_where_it_was(stack: Stack, gateway, helpers):
    number = resident_number(1962, region="110105")
    async with httpx.AsyncClient(base_url=stack.url("tencentcloud")) as authority:
        await authority.post("/_fake/faceid/residents", json={"id_card": number, "name": "周强"})
    holder = await _person(gateway, "110105")
    body = {"name": "周强", "id_number": number}
    assert (await gateway.post("/api/v1/me/real-name", headers=holder.headers, json=body)).status_code == 200
    claimant = await _person(gateway, "110101")
    claim = (await gateway.post("/api/v1/me/real-name/claims", headers=claimant.headers, json=body)).json()
    admin = await helpers.staff_headers(gateway, "admin")  # city staff decide claims of any district
    rejected = await gateway.post(
        f"/api/v1/real-name-claims/{claim['id']}/decision",
        headers=admin,
        json={"decision": "reject", "evidence": "申请人未能出示身份证原件"},
    )
    assert rejected.status_code == 200 and rejected.json()["state"] == "rejected", rejected.text
    assert (await gateway.get("/api/v1/me", headers=holder.headers)).json()["real_name"] is not None
    assert (await gateway.get("/api/v1/me", headers=claimant.headers)).json()["real_name"] is None
