"""A copy of one's own data (PIPL 查阅复制权): one answer through the gateway, composed of each service's part,
with the personal data in the clear for its owner only, the read audited, and nothing of anyone else's."""

import json

from devstack import scenario

PLACE = scenario.PLACE


async def test_an_elder_downloads_everything_the_system_holds_about_them(stack, gateway, helpers, clock, sql):
    elder = await scenario.elder_with_coins(gateway, 600)
    phone = await scenario.proven_phone(stack, gateway, elder)
    volunteer = await scenario.volunteer(gateway)
    await scenario.known_volunteer(gateway, volunteer)
    request_id = await scenario.approved_request(gateway, elder, hours_ahead=2, address="朝阳区幸福里8号3单元")
    assert (await gateway.post(f"/api/v1/requests/{request_id}/booking", headers=volunteer.headers)).status_code == 201

    async def told():  # the message reaches identity's inbox by matching's event
        inbox = (await gateway.get("/api/v1/me/inbox", headers=elder.headers)).json()["items"]
        return any(m["template"] == "request_booked" for m in inbox)

    assert await helpers.eventually(told, timeout=30)
    copy = await gateway.get("/api/v1/me/data", headers=elder.headers)
    assert copy.status_code == 200, copy.text
    assert copy.headers["content-disposition"].startswith('attachment; filename="my-data-')
    assert copy.headers["cache-control"] == "no-store"
    data = copy.json()
    assert data["person_id"] == elder.person_id and set(data) >= {"identity", "ledger", "matching", "aed"}
    who = data["identity"]
    assert (who["name"], who["phone"], who["residence_district"]) == ("王秀英", phone, "110105")
    assert len(who["id_number"]) == 18 and "*" not in who["id_number"]
    assert {r["role"] for r in who["roles"]} >= {"elder"} and who["special_elder_categories"] == ["advanced_age"]
    assert any(m["template"] == "request_booked" for m in who["messages"])
    assert data["ledger"]["account"]["balance"] == 600 and data["ledger"]["entries"][-1]["kind"] == "grant"
    [published] = data["matching"]["requests_published"]
    assert (published["id"], published["address"]) == (request_id, "朝阳区幸福里8号3单元")
    assert [b["volunteer_id"] for b in published["bookings"]] == [volunteer.person_id]
    assert data["matching"]["bookings_made"] == [] and data["aed"]["incidents_raised"] == []

    # The volunteer's copy holds their booking, not the elder's address or anything else of the elder's.
    theirs = (await gateway.get("/api/v1/me/data", headers=volunteer.headers)).json()
    [made] = theirs["matching"]["bookings_made"]
    assert made["request_id"] == request_id and made["booking"]["volunteer_id"] == volunteer.person_id
    assert "幸福里" not in json.dumps(theirs, ensure_ascii=False) and "王秀英" not in json.dumps(
        theirs, ensure_ascii=False
    )

    # Reading one's own personal data in the clear is on record like any other read.
    accessed = await sql["identity"].rows(
        "SELECT payload FROM outbox WHERE key = :p AND event_type = 'timebank.identity.personal-data.accessed'",
        p=elder.person_id,
    )
    [read] = [json.loads(p)["data"] for (p,) in accessed]
    assert (read["accessed_by"], read["fields"]) == (elder.person_id, ["name", "id_number", "phone"])
    assert phone not in json.dumps(read)


async def test_only_people_have_a_copy_and_a_part_is_refused_as_its_service_refuses(gateway, helpers):
    assert (await gateway.get("/api/v1/me/data")).status_code == 401
    officer = await scenario.staff(gateway, "officer-110105")
    refused = await gateway.get("/api/v1/me/data", headers=officer)
    assert refused.status_code == 403 and refused.headers["content-type"].startswith("application/problem+json")
    person = await helpers.login(gateway)  # not yet verified: an empty but whole copy
    fresh = await gateway.get("/api/v1/me/data", headers={"Authorization": f"Bearer {person['access_token']}"})
    assert fresh.status_code == 200 and fresh.json()["identity"]["name"] is None


async def test_the_composed_copy_is_in_the_public_openapi(gateway):
    spec = (await gateway.get("/openapi.json")).json()
    operation = spec["paths"]["/api/v1/me/data"]["get"]
    parts = operation["responses"]["200"]["content"]["application/json"]["schema"]["properties"]
    for part in ("identity", "ledger", "matching", "aed"):
        assert parts[part]["$ref"].split("/")[-1] in spec["components"]["schemas"]
