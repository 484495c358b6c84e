"""Staff find people without knowing their id (人员查询): by full name, phone or 居民身份证号, within what their role may
see, every look-up by personal data audited; and the staff console signs in with a refresh cookie the page cannot
read, through the gateway, which passes that one cookie and no other."""

from __future__ import annotations

import json
import secrets

import httpx

from devstack import scenario
from devstack.people import resident_number
from devstack.stack import Stack


def _cookie(token: str) -> dict[str, str]:
    return {"Cookie": f"tb_console_refresh={token}"}


async def _verified(gateway: httpx.AsyncClient, name: str, number: str, district: str) -> scenario.Person:
    person = await scenario.sign_in(gateway, f"dir-{secrets.token_hex(6)}")
    verified = await gateway.post(
        "/api/v1/me/real-name", headers=person.headers, json={"name": name, "id_number": number}
    )
    assert verified.status_code == 200, verified.text
    residence = {"district": district, "permanent_resident": True}
    assert (await gateway.put("/api/v1/me/residence", headers=person.headers, json=residence)).status_code == 200
    return person


async def test_an_officer_finds_residents_of_their_district_by_number_name_and_phone(
    stack: Stack, gateway, helpers, sql
):
    number = resident_number(1941, region="110105")
    name = "欧阳" + secrets.choice("明华丽强") + secrets.choice("东南西北")
    elder = await _verified(gateway, name, number, "110105")
    elsewhere = await _verified(gateway, name, resident_number(1950, region="110108"), "110108")
    phone = await scenario.proven_phone(stack, gateway, elder)
    officer = await scenario.staff(gateway, "officer-110105")

    by_number = await gateway.get("/api/v1/people", params={"q": number}, headers=officer)
    assert by_number.status_code == 200, by_number.text
    [found] = by_number.json()["items"]
    assert found["person_id"] == elder.person_id
    assert found["id_number_masked"] == number[:6] + "********" + number[-4:] and found["age"] >= 84
    assert number not in by_number.text and name not in by_number.text  # masked, always
    assert found["phone_masked"] == phone[:3] + "****" + phone[-4:]

    # A name is matched whole (width and spaces ignored); the officer sees only their own district's namesake.
    by_name = await gateway.get("/api/v1/people", params={"q": f" {name[:2]} {name[2:]} "}, headers=officer)
    assert [p["person_id"] for p in by_name.json()["items"]] == [elder.person_id]
    admin = await scenario.staff(gateway, "admin")
    everywhere = await gateway.get("/api/v1/people", params={"q": name}, headers=admin)
    assert {p["person_id"] for p in everywhere.json()["items"]} == {elder.person_id, elsewhere.person_id}
    other_district = await gateway.get("/api/v1/people", params={"q": name, "district": "110108"}, headers=officer)
    assert other_district.status_code == 403, other_district.text

    for q in (phone, phone[:3] + "****" + phone[-4:]):
        by_phone = await gateway.get("/api/v1/people", params={"q": q}, headers=officer)
        assert elder.person_id in [p["person_id"] for p in by_phone.json()["items"]], by_phone.text
    wrong_full = phone[:3] + ("0" if phone[3] != "0" else "1") + phone[4:]
    unknown = await gateway.get("/api/v1/people", params={"q": wrong_full}, headers=officer)
    assert elder.person_id not in [p["person_id"] for p in unknown.json()["items"]]

    # A mistyped number is a clear 422, not an empty list.
    typo = number[:-1] + ("0" if number[-1] != "0" else "1")
    refused = await gateway.get("/api/v1/people", params={"q": typo}, headers=officer)
    assert refused.status_code == 422 and refused.json()["type"].endswith("/invalid-id-number"), refused.text
    half = await gateway.get("/api/v1/people", params={"q": "1101051941"}, headers=officer)
    assert half.status_code == 422, half.text

    # Every look-up by personal data is in the audit trail: who searched, by what, whom it found.
    async def audited():
        rows = await sql["audit"].rows(
            "SELECT actor, payload FROM audit_log WHERE type = 'timebank.identity.personal-data.accessed'"
            " AND subject = :s",
            s=elder.person_id,
        )
        purposes = {(row.actor, json.loads(row.payload)["purpose"]) for row in rows}
        officer_id = (await gateway.get("/api/v1/me", headers=officer)).json()["id"]
        wanted = {(officer_id, f"人员查询 people search by {by}") for by in ("id_number", "name", "phone")}
        return wanted <= purposes

    await helpers.eventually(audited, timeout=30)

    # The person's page, for the officer of their district, and for no one else's.
    page = await gateway.get(f"/api/v1/people/{elder.person_id}", headers=officer)
    assert page.status_code == 200, page.text
    body = page.json()
    assert body["district"] == "110105" and body["roles"] == ["elder"] and body["special_groups"] == []
    assert name not in page.text and number not in page.text
    haidian = await scenario.staff(gateway, "officer-110108")
    assert (await gateway.get(f"/api/v1/people/{elder.person_id}", headers=haidian)).status_code == 403
    person = await gateway.get(f"/api/v1/people/{elder.person_id}", headers=elder.headers)
    assert person.status_code == 403
    assert (await gateway.get("/api/v1/people", headers=elder.headers)).status_code == 403


async def test_a_district_list_pages_newest_first_without_repeats(gateway):
    officer = await scenario.staff(gateway, "officer-110101")
    made = [await _verified(gateway, "钱一", resident_number(1960 + i, region="110101"), "110101") for i in range(3)]
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = await gateway.get("/api/v1/people", params=params, headers=officer)
        assert page.status_code == 200, page.text
        seen += [p["person_id"] for p in page.json()["items"]]
        if not (cursor := page.json()["next_cursor"]):
            break
    assert len(seen) == len(set(seen))
    assert [p.person_id for p in reversed(made)] == [p for p in seen if p in {m.person_id for m in made}]


async def test_the_console_session_lives_in_an_httponly_cookie_that_only_its_paths_receive(stack: Stack, gateway):
    signed_in = await gateway.post(
        "/api/v1/auth/console/sign-in", json={"username": "officer-110105", "password": scenario.PASSWORD}
    )
    assert signed_in.status_code == 200, signed_in.text
    assert "refresh_token" not in signed_in.json()
    cookie = signed_in.headers["set-cookie"]
    assert cookie.startswith("tb_console_refresh=")
    for attribute in ("HttpOnly", "SameSite=strict", "Path=/api/v1/auth/console"):
        assert attribute.lower() in cookie.lower(), cookie
    assert "secure" not in cookie.lower()  # development serves plain HTTP; production sets Secure
    token = cookie.split(";")[0].split("=", 1)[1]
    me = await gateway.get("/api/v1/me", headers={"Authorization": f"Bearer {signed_in.json()['access_token']}"})
    assert me.status_code == 200 and "district_officer" in me.json()["roles"]

    jar = _cookie(token)
    refreshed = await gateway.post("/api/v1/auth/console/refresh", headers=jar)
    assert refreshed.status_code == 200, refreshed.text
    rotated = refreshed.headers["set-cookie"].split(";")[0].split("=", 1)[1]
    assert rotated != token
    # The old cookie again is a stolen one: the sign-in ends for both.
    reused = await gateway.post("/api/v1/auth/console/refresh", headers=jar)
    assert reused.status_code == 401
    assert (await gateway.post("/api/v1/auth/console/refresh", headers=_cookie(rotated))).status_code == 401
    assert (await gateway.post("/api/v1/auth/console/refresh")).status_code == 401

    # Sign-out ends the sign-in and clears the cookie.
    again = await gateway.post(
        "/api/v1/auth/console/sign-in", json={"username": "officer-110105", "password": scenario.PASSWORD}
    )
    live = again.headers["set-cookie"].split(";")[0].split("=", 1)[1]
    out = await gateway.post("/api/v1/auth/console/sign-out", headers=_cookie(live))
    assert out.status_code == 200 and out.json() == {"sessions_ended": 1}
    assert 'tb_console_refresh=""' in out.headers["set-cookie"] or "max-age=0" in out.headers["set-cookie"].lower()
    assert (await gateway.post("/api/v1/auth/console/refresh", headers=_cookie(live))).status_code == 401

    # No other cookie crosses the gateway, either way.
    plain = await gateway.get("/api/v1/me", headers={"Authorization": f"Bearer {signed_in.json()['access_token']}"})
    assert "set-cookie" not in plain.headers


async def test_a_suspended_officer_s_console_session_ends_at_its_next_refresh(gateway):
    admin = await scenario.staff(gateway, "admin")
    username = "officer-110119"  # a district no other test works in
    signed_in = await gateway.post(
        "/api/v1/auth/console/sign-in", json={"username": username, "password": scenario.PASSWORD}
    )
    assert signed_in.status_code == 200, signed_in.text
    token = signed_in.headers["set-cookie"].split(";")[0].split("=", 1)[1]
    me = await gateway.get("/api/v1/me", headers={"Authorization": f"Bearer {signed_in.json()['access_token']}"})
    staff_id = me.json()["id"]
    suspended = await gateway.post(
        f"/api/v1/staff/{staff_id}/suspension", headers=admin, json={"reason": "离职交接期间暂停账号"}
    )
    assert suspended.status_code == 200, suspended.text
    try:
        ended = await gateway.post("/api/v1/auth/console/refresh", headers=_cookie(token))
        assert ended.status_code == 401, ended.text
    finally:
        lifted = await gateway.post(
            f"/api/v1/staff/{staff_id}/suspension/lift", headers=admin, json={"reason": "交接完成，恢复账号"}
        )
        assert lifted.status_code == 200, lifted.text


async def test_an_institution_finds_a_resident_only_by_a_full_number(gateway):
    number = resident_number(1947, region="110105")
    elder = await _verified(gateway, "郑桂芳", number, "110105")
    institution = await scenario.staff(gateway, "institution")
    found = await gateway.get("/api/v1/people", params={"q": number}, headers=institution)
    assert found.status_code == 200 and [p["person_id"] for p in found.json()["items"]] == [elder.person_id]
    assert (await gateway.get(f"/api/v1/people/{elder.person_id}", headers=institution)).status_code == 200
    for browsing in ({"q": "郑桂芳"}, {}, {"q": "139****5678"}):
        refused = await gateway.get("/api/v1/people", params=browsing, headers=institution)
        assert refused.status_code == 422 and refused.json()["type"].endswith("/identifier-required"), browsing
    assert (await gateway.get("/api/v1/people/export", headers=institution)).status_code == 403
    elsewhere = await _verified(gateway, "郑桂芳", resident_number(1947, region="110108"), "110108")
    assert (await gateway.get(f"/api/v1/people/{elsewhere.person_id}", headers=institution)).status_code == 403


async def test_a_person_s_page_lists_the_elder_s_requests_to_staff_of_their_district(gateway):
    """The services on an elder's page: their requests, newest first, to the district's staff and city-wide
    staff; another district's officer sees none of them, and a person is refused."""
    elder = await scenario.elder_with_coins(gateway, 240)
    first = await scenario.request_awaiting_review(gateway, elder, hours_ahead=30, notes="陪同就医")
    second = await scenario.request_awaiting_review(gateway, elder, hours_ahead=50, notes="读报聊天")
    path = f"/api/v1/requests/elders/{elder.person_id}"
    for caller in ("officer-110105", "institution", "auditor"):
        listed = await gateway.get(path, headers=await scenario.staff(gateway, caller))
        assert listed.status_code == 200, (caller, listed.text)
        assert [r["id"] for r in listed.json()["items"]] == [second, first], caller
        assert all(r["address"] is None and r["position"] is None for r in listed.json()["items"])
    officer = await scenario.staff(gateway, "officer-110105")
    paged = await gateway.get(path, headers=officer, params={"limit": 1})
    assert [r["id"] for r in paged.json()["items"]] == [second]
    rest = await gateway.get(path, headers=officer, params={"limit": 1, "cursor": paged.json()["next_cursor"]})
    assert [r["id"] for r in rest.json()["items"]] == [first]
    waiting = await gateway.get(path, headers=officer, params={"state": "open"})
    assert waiting.json()["items"] == []
    haidian = await gateway.get(path, headers=await scenario.staff(gateway, "officer-110108"))
    assert haidian.status_code == 200 and haidian.json()["items"] == []
    assert (await gateway.get(path, headers=elder.headers)).status_code == 403
