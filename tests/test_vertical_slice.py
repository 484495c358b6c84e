"""WeChat login at identity → person.registered over Kafka → the ledger opens the account."""

from contracts import schema_for
from servicekit.events import CloudEvent


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


async def test_first_login_opens_one_account_visible_through_the_gateway(gateway, helpers, sql):
    first = await helpers.login(gateway, "alice-slice")
    assert first["new_person"] is True

    async def account():
        response = await gateway.get("/api/v1/accounts/me", headers=bearer(first["access_token"]))
        return response if response.status_code == 200 else None

    response = await helpers.eventually(account)
    assert response is not None, "the ledger never opened the account"
    body = response.json()
    assert body["person_id"] == first["person_id"]
    assert (body["balance"], body["held"], body["available"], body["unit"]) == (0, 0, 0, "minute")

    again = await helpers.login(gateway, "alice-slice")
    assert again["person_id"] == first["person_id"] and again["new_person"] is False
    assert (
        await sql["ledger"].scalar(
            "SELECT count(*) FROM accounts WHERE owner_person_id = :p AND origin = 'earned'", p=first["person_id"]
        )
        == 1
    )
    assert (
        await sql["identity"].scalar(
            "SELECT count(*) FROM outbox WHERE event_type = 'timebank.identity.person.registered' AND key = :p",
            p=first["person_id"],
        )
        == 1
    )


async def test_every_published_event_matches_its_contract(gateway, helpers, sql):
    person = await helpers.login(gateway)
    await helpers.eventually(
        lambda: sql["ledger"].scalar(
            "SELECT count(*) FROM outbox WHERE payload LIKE '%' || :p || '%'", p=person["person_id"]
        )
    )
    for service in ("identity", "ledger"):
        for (payload,) in await sql[service].rows("SELECT payload FROM outbox"):
            event = CloudEvent.model_validate_json(payload)
            assert event.source == service and event.specversion == "1.0" and event.traceparent
            schema_for(event.type, event.dataschema).model_validate(event.data)


async def test_dev_codes_are_the_only_codes_the_fake_wechat_accepts(gateway):
    response = await gateway.post("/api/v1/auth/wechat-login", json={"code": "not-a-dev-code"})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("/wechat-code-rejected")


async def test_staff_and_partner_tokens_from_the_token_endpoint(gateway):
    staff = await gateway.post(
        "/api/v1/auth/token",
        data={"grant_type": "password", "username": "officer-110105", "password": "demo-password-2026"},
    )
    assert staff.status_code == 200, staff.text
    me = (await gateway.get("/api/v1/me", headers=bearer(staff.json()["access_token"]))).json()
    assert me["kind"] == "staff" and me["roles"] == ["district_officer"] and me["district"] == "110105"

    wrong = await gateway.post(
        "/api/v1/auth/token",
        data={"grant_type": "password", "username": "officer-110105", "password": "wrong-password-x"},
    )
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"

    partner = await gateway.post(
        "/api/v1/auth/token",
        data={"grant_type": "client_credentials"},
        auth=("volunteer-beijing", "demo-partner-secret-2026"),
    )
    assert partner.status_code == 200, partner.text
    me = (await gateway.get("/api/v1/me", headers=bearer(partner.json()["access_token"]))).json()
    assert me["kind"] == "partner"
    # Partners hold no time-coin account.
    assert (await gateway.get("/api/v1/accounts/me", headers=bearer(partner.json()["access_token"]))).status_code == 403
