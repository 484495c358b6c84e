"""Hostile and unusual input through the gateway, as the fuzzer and hand-made requests sent it: each class of
defect once seen as a 5xx, a leak or a traversal now gets a clear 4xx problem and changes nothing."""

import asyncio
import random
import uuid
from datetime import date, timedelta

import httpx
import pytest

from devstack import rawhttp

FAR_FUTURE = (date.today() + timedelta(days=700)).isoformat()
PROBLEM = "application/problem+json"


def _is_problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    return response.json()


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/accounts/..%2F..%2F..%2Fmetrics",
        "/api/v1/accounts/..%2F..%2F..%2Fopenapi.json",
        "/api/v1/accounts/%2e%2e/%2e%2e/%2e%2e/docs",
        "/api/v1/accounts/..%2F..%2F..%2Freadyz",
        "/api/v1/requests/%00",
        "/api/v1/requests/a%0d%0ab",
    ],
)
async def test_traversal_and_control_characters_never_reach_a_service(stack, path):
    # A raw request line: an HTTP client library would normalise or re-encode these paths.
    async with httpx.AsyncClient(base_url=stack.gateway_url) as client:
        response = await client.get(httpx.URL(stack.gateway_url).copy_with(raw_path=path.encode()))
    assert _is_problem(response, 400)["type"].endswith("/bad-path")
    assert "# HELP" not in response.text and '"openapi"' not in response.text


async def test_an_encoded_hash_or_question_mark_stays_in_its_segment(gateway, helpers):
    person = await helpers.login(gateway)
    headers = {"Authorization": f"Bearer {person['access_token']}"}
    for raw in ("/api/v1/requests/%23", "/api/v1/requests/x%3Fa=1"):
        response = await gateway.get(httpx.URL(str(gateway.base_url)).copy_with(raw_path=raw.encode()), headers=headers)
        assert response.status_code == 422  # not a UUID; never a 307 naming a service's address
        assert "location" not in response.headers and "127.0.0.1" not in response.text


@pytest.mark.parametrize(
    "send",
    [
        lambda c: c.post("/api/v1/auth/wechat-login", json={"code": "dev-a\u0000b"}),
        lambda c: c.post(
            "/api/v1/auth/wechat-login",
            content=b'{"code": "dev-\\ud800"}',
            headers={"content-type": "application/json"},
        ),
        lambda c: c.post(
            "/api/v1/auth/token", data={"grant_type": "password", "username": "ad\u0000min", "password": "x"}
        ),
        lambda c: c.get("/api/v1/aeds", params={"near": "39.9,116.4", "coord_system": "wgs84\u0000"}),
    ],
)
async def test_text_postgres_cannot_store_is_refused_without_a_token_and_the_next_request_works(gateway, send):
    response = await send(gateway)
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    clean = await gateway.post("/api/v1/auth/wechat-login", json={"code": f"dev-{uuid.uuid4().hex}"})
    assert clean.status_code == 200  # no 502 after the refusal


async def test_nul_in_a_signed_in_callers_filter_and_reason_is_422(gateway, helpers):
    auditor = await helpers.staff_headers(gateway, "auditor")
    person = await helpers.login(gateway)
    elder = {"Authorization": f"Bearer {person['access_token']}"}
    listing = await gateway.get("/api/v1/alerts", params={"rule": "late\u0000night"}, headers=auditor)
    _is_problem(listing, 422)
    cancel = await gateway.post(
        f"/api/v1/requests/{uuid.uuid4()}/cancel", json={"reason": "no\u0000thanks"}, headers=elder
    )
    _is_problem(cancel, 422)


@pytest.mark.parametrize(
    "query",
    [
        {"near": "95,200"},
        {"near": "-0399065,8.0"},
        {"near": "90,116.4", "coord_system": "gcj02"},
        {"near": "-90,-180", "coord_system": "gcj02"},
        {"near": "31.23,121.47"},
        {"near": "nan,nan"},
    ],
)
async def test_out_of_range_or_far_away_coordinates_are_422_on_the_public_lookup(gateway, query):
    _is_problem(await gateway.get("/api/v1/aeds", params=query), 422)


async def test_out_of_range_coordinates_are_422_in_nearby_search_and_sos(gateway, helpers):
    person = await helpers.login(gateway)
    headers = {"Authorization": f"Bearer {person['access_token']}"}
    _is_problem(
        await gateway.get("/api/v1/requests", params={"near": "90,0", "coord_system": "gcj02"}, headers=headers), 422
    )
    for position in ({"lat": 90, "lon": 116.4, "coord_system": "gcj02"}, {"lat": 39.9, "lon": 500}):
        _is_problem(await gateway.post("/api/v1/incidents", json={"position": position}, headers=headers), 422)


async def test_an_unknown_district_code_is_422_not_500(gateway, helpers):
    admin = await helpers.staff_headers(gateway, "admin")
    problem = _is_problem(await gateway.get("/api/v1/aeds/coverage", params={"district": "999999"}, headers=admin), 422)
    assert problem["errors"][0]["location"][-1] == "district"


async def test_two_concurrent_registrations_of_one_serial_give_one_device_and_one_409(gateway, helpers, sql):
    admin = await helpers.staff_headers(gateway, "admin")
    serial = f"RACE-{uuid.uuid4().hex[:8]}"
    device = {
        "serial": serial,
        "name": "体育馆入口",
        "address": "海淀区学院路2号",
        "district": "110108",
        "position": {"lat": round(random.uniform(39.8, 40.0), 5), "lon": round(random.uniform(116.2, 116.5), 5)},
        "opening_hours": "24/7",
        "access": "public",
        "indoor": True,
        "battery_expires_on": FAR_FUTURE,
        "adult_pads_expires_on": FAR_FUTURE,
    }
    answers = await asyncio.gather(*(gateway.post("/api/v1/aeds", json=device, headers=admin) for _ in range(4)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201, 409, 409, 409], [a.text for a in answers]
    for refused in answers:
        if refused.status_code == 409:
            assert refused.headers["content-type"].startswith(PROBLEM)
    assert await sql["aed"].scalar("SELECT count(*) FROM aeds WHERE serial = :s", s=serial) == 1


async def test_a_body_over_the_limit_is_413(stack):
    url = httpx.URL(stack.gateway_url)
    status, headers, body = await rawhttp.upload(url.host, url.port, "/api/v1/auth/wechat-login", 10 * 1024 * 1024 + 1)
    assert status == 413, body
    assert headers["content-type"].startswith(PROBLEM)


async def test_a_retried_sos_raises_one_incident_and_another_body_with_the_key_is_409(gateway, helpers, sql):
    person = await helpers.login(gateway)
    key = {"Authorization": f"Bearer {person['access_token']}", "Idempotency-Key": f"sos-{uuid.uuid4()}"}
    sos = {"position": {"lat": 39.95, "lon": 116.35}, "note": "老人倒地"}
    first = await gateway.post("/api/v1/incidents", json=sos, headers=key)
    retries = await asyncio.gather(*(gateway.post("/api/v1/incidents", json=sos, headers=key) for _ in range(3)))
    assert first.status_code == 201
    assert {r.json()["id"] for r in retries} == {first.json()["id"]}
    assert all(r.headers.get("idempotent-replayed") == "true" for r in retries)
    assert await sql["aed"].scalar("SELECT count(*) FROM incidents WHERE reported_by = :p", p=person["person_id"]) == 1
    other = await gateway.post("/api/v1/incidents", json={**sos, "note": "另一处"}, headers=key)
    assert _is_problem(other, 409)["type"].endswith("/idempotency-key-reused")
    again = await gateway.post(
        "/api/v1/incidents",
        json=sos,
        headers={"Authorization": key["Authorization"], "Idempotency-Key": f"sos-{uuid.uuid4()}"},
    )
    assert again.status_code == 201 and again.json()["id"] != first.json()["id"]  # a new key is a new SOS


async def test_the_same_import_twice_at_once_stores_each_device_once_and_never_answers_500(gateway, helpers, sql):
    admin = await helpers.staff_headers(gateway, "admin")
    header = "serial,name,lat,lon,address,district,indoor,access,opening_hours,battery_expires_on,adult_pads_expires_on"
    serials = [f"TWICE-{uuid.uuid4().hex[:8]}" for _ in range(20)]
    rows = [
        f"{s},教学楼{n},{39.9 + n / 1000},116.3,海淀区某校,110108,是,public,24/7,{FAR_FUTURE},{FAR_FUTURE}"
        for n, s in enumerate(serials)
    ]
    body = "\n".join([header, *rows]).encode()
    answers = await asyncio.gather(
        *(
            gateway.post("/api/v1/aeds/import", headers=admin | {"content-type": "text/csv"}, content=body)
            for _ in range(2)
        )
    )
    assert sorted(a.status_code for a in answers) in ([200, 200], [200, 409]), [a.text for a in answers]
    assert await sql["aed"].scalar("SELECT count(*) FROM aeds WHERE serial = ANY(:s)", s=serials) == len(serials)
