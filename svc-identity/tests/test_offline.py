"""Offline operation: an institution registers someone without a phone, then acts for them; tokens and
events name both the operator and the person."""

import base64
import json

from devstack import people
from servicekit.events import CloudEvent


def _claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


async def test_an_institution_registers_and_acts_for_a_person_without_a_phone(gateway, helpers, sql):
    institution = await helpers.staff_headers(gateway, "institution")  # an operator in 朝阳 (110105)
    person = await helpers.login(gateway)
    body = {"consent_ref": "朝阳-代办-0001", "permanent_resident": True}
    assert (
        await gateway.post("/api/v1/people", headers={"Authorization": f"Bearer {person['access_token']}"}, json=body)
    ).status_code == 403
    registered = await gateway.post("/api/v1/people", headers=institution, json=body)
    assert registered.status_code == 201 and registered.json()["district"] == "110105"
    person_id = registered.json()["person_id"]
    operator_id = _claims(institution["Authorization"].split()[1])["sub"]

    token = await gateway.post("/api/v1/auth/act-for", headers=institution, json={"person_id": person_id})
    assert token.status_code == 200
    claims = _claims(token.json()["access_token"])
    assert (claims["sub"], claims["act_for"]) == (operator_id, person_id)
    acting = {"Authorization": f"Bearer {token.json()['access_token']}"}
    assert (
        await gateway.post("/api/v1/auth/act-for", headers=acting, json={"person_id": person_id})
    ).status_code == 403

    verified = await gateway.post(
        "/api/v1/me/real-name", headers=acting, json={"name": "赵桂兰", "id_number": people.resident_number(1940)}
    )
    assert verified.status_code == 200
    me = (await gateway.get("/api/v1/me", headers=acting)).json()
    assert (me["id"], me["acting_for"], me["real_name"]["name_masked"]) == (operator_id, person_id, "赵**")

    async def account():
        response = await gateway.get("/api/v1/accounts/me", headers=acting)  # the ledger serves the person's
        return response.json() if response.status_code == 200 else None

    assert (await helpers.eventually(account))["person_id"] == person_id

    rows = await sql["identity"].rows("SELECT event_type, payload FROM outbox WHERE key = :k ORDER BY id", k=person_id)
    events = {t: CloudEvent.model_validate_json(p) for t, p in rows}
    registered_event = events["timebank.identity.person.registered"]
    assert (registered_event.data["channel"], registered_event.data["registered_by"]) == ("offline", operator_id)
    verified_event = events["timebank.identity.person.verified"]
    assert (verified_event.actor, verified_event.actingfor) == (operator_id, person_id)

    haidian = await helpers.staff_headers(gateway, "officer-110108")
    assert (
        await gateway.post("/api/v1/auth/act-for", headers=haidian, json={"person_id": person_id})
    ).status_code == 403
    stranger = await helpers.login(gateway)
    assert (
        await gateway.post("/api/v1/auth/act-for", headers=institution, json={"person_id": stranger["person_id"]})
    ).status_code == 404
