"""直系亲属: claim, confirmation by the relative or by staff with a document, revocation, events."""

from servicekit.events import CloudEvent


def bearer(token: dict) -> dict:
    return {"Authorization": f"Bearer {token['access_token']}"}


async def _events(sql, event_type: str, link_id: str) -> list[CloudEvent]:
    rows = await sql["identity"].rows("SELECT payload FROM outbox WHERE event_type = :t", t=event_type)
    return [e for e in (CloudEvent.model_validate_json(p) for (p,) in rows) if e.data["link_id"] == link_id]


async def test_the_relative_confirms_and_both_see_the_link_from_their_side(gateway, helpers, sql):
    daughter, mother = await helpers.login(gateway), await helpers.login(gateway)
    claimed = await gateway.post(
        "/api/v1/kinships", headers=bearer(daughter), json={"relative_id": mother["person_id"], "relation": "parent"}
    )
    assert claimed.status_code == 201 and claimed.json()["status"] == "pending"
    link = claimed.json()["id"]
    own = await gateway.post(f"/api/v1/kinships/{link}/confirm", headers=bearer(daughter))
    assert own.status_code == 403  # nobody confirms their own claim
    assert await _events(sql, "timebank.identity.kinship.confirmed", link) == []

    confirmed = await gateway.post(f"/api/v1/kinships/{link}/confirm", headers=bearer(mother))
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "confirmed"
    seen_by_mother = (await gateway.get("/api/v1/kinships", headers=bearer(mother))).json()
    assert [{k: v for k, v in item.items() if k != "created_at"} for item in seen_by_mother["items"]] == [
        {
            "id": link,
            "relative_id": daughter["person_id"],
            "relation": "child",
            "status": "confirmed",
            "claimed_by_me": False,
            "awaiting_me": False,
        }
    ]
    assert seen_by_mother["next_cursor"] is None
    [event] = await _events(sql, "timebank.identity.kinship.confirmed", link)
    assert (event.data["person_id"], event.data["relative_id"], event.data["relation"]) == (
        daughter["person_id"],
        mother["person_id"],
        "parent",
    )

    again = await gateway.post(
        "/api/v1/kinships", headers=bearer(mother), json={"relative_id": daughter["person_id"], "relation": "child"}
    )
    assert again.status_code == 409 and again.json()["type"].endswith("/kinship-exists")

    revoked = await gateway.post(f"/api/v1/kinships/{link}/revoke", headers=bearer(mother), json={"reason": "登记错误"})
    assert revoked.json()["status"] == "revoked"
    retry = await gateway.post(f"/api/v1/kinships/{link}/revoke", headers=bearer(mother), json={"reason": "登记错误"})
    assert retry.status_code == 200
    assert len(await _events(sql, "timebank.identity.kinship.revoked", link)) == 1


async def test_staff_confirm_only_with_a_document_and_strangers_cannot_touch_a_link(gateway, helpers, sql):
    grandson = await helpers.login(gateway)
    grandmother = await helpers.login(gateway)
    stranger = await helpers.login(gateway)
    link = (
        await gateway.post(
            "/api/v1/kinships",
            headers=bearer(grandson),
            json={"relative_id": grandmother["person_id"], "relation": "grandparent"},
        )
    ).json()["id"]
    staff = (
        await gateway.post(
            "/api/v1/auth/token",
            data={"grant_type": "password", "username": "institution", "password": "demo-password-2026"},
        )
    ).json()
    assert (await gateway.post(f"/api/v1/kinships/{link}/confirm", headers=bearer(stranger))).status_code == 403
    assert (
        await gateway.post(f"/api/v1/kinships/{link}/revoke", headers=bearer(stranger), json={"reason": "捣乱"})
    ).status_code == 403
    no_document = await gateway.post(f"/api/v1/kinships/{link}/confirm", headers=bearer(staff), json={})
    assert no_document.status_code == 422
    ok = await gateway.post(
        f"/api/v1/kinships/{link}/confirm", headers=bearer(staff), json={"document_ref": "户口簿 110105-2026-0042"}
    )
    assert ok.status_code == 200
    [event] = await _events(sql, "timebank.identity.kinship.confirmed", link)
    assert event.data["document_ref"] == "户口簿 110105-2026-0042" and event.actor == event.data["confirmed_by"]


async def test_bad_claims_are_refused(gateway, helpers):
    person = await helpers.login(gateway)
    cases = [
        ({"relative_id": person["person_id"], "relation": "parent"}, 422),  # oneself
        ({"relative_id": "00000000-0000-0000-0000-000000000001", "relation": "parent"}, 404),
        ({"relative_id": person["person_id"], "relation": "cousin"}, 422),  # not 直系
        ({"relation": "parent"}, 422),
    ]
    for body, status in cases:
        response = await gateway.post("/api/v1/kinships", headers=bearer(person), json=body)
        assert response.status_code == status, (body, response.text)
