"""(d) Malformed JSON and wrong types get a 4xx problem response and change nothing."""

import pytest


@pytest.mark.parametrize(
    "body,content_type",
    [
        (b'{"code":', "application/json"),  # malformed JSON
        (b'{"code": 12345}', "application/json"),  # wrong type
        (b'{"code": ""}', "application/json"),  # empty
        (b"{}", "application/json"),  # missing field
        (b"[1, 2]", "application/json"),  # wrong shape
        (b"code=dev-x", "application/x-www-form-urlencoded"),
    ],
)
async def test_bad_login_bodies_are_refused_and_create_nobody(gateway, sql, body, content_type):
    before = await sql["identity"].scalar("SELECT count(*) FROM persons")
    outbox_before = await sql["identity"].scalar("SELECT count(*) FROM outbox")
    response = await gateway.post("/api/v1/auth/wechat-login", content=body, headers={"content-type": content_type})
    assert 400 <= response.status_code < 500
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert {"type", "title", "status"} <= problem.keys() and problem["status"] == response.status_code
    assert await sql["identity"].scalar("SELECT count(*) FROM persons") == before
    assert await sql["identity"].scalar("SELECT count(*) FROM outbox") == outbox_before


async def test_problem_text_is_chinese_by_default_and_english_on_request(gateway):
    zh = await gateway.post("/api/v1/auth/wechat-login", content=b"{", headers={"content-type": "application/json"})
    en = await gateway.post(
        "/api/v1/auth/wechat-login",
        content=b"{",
        headers={"content-type": "application/json", "accept-language": "en-GB"},
    )
    assert zh.json()["title"] == "输入不符合要求" and en.json()["title"] == "Invalid input"
    assert zh.json()["errors"][0]["code"] == "json_invalid"


@pytest.mark.parametrize(
    "form",
    [
        {},  # no grant_type
        {"grant_type": "authorization_code"},  # unsupported
        {"grant_type": "password", "username": "admin"},  # no password
    ],
)
async def test_bad_token_requests_are_refused(gateway, form):
    response = await gateway.post("/api/v1/auth/token", data=form)
    assert 400 <= response.status_code < 500
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_unknown_paths_are_problem_404s(gateway):
    response = await gateway.get("/api/v1/nothing-here")
    assert response.status_code == 404 and response.json()["type"].endswith("/not-found")


async def test_field_messages_are_chinese_by_default_and_english_on_request(gateway):
    from devstack import scenario

    admin = await scenario.staff(gateway, "admin")
    device = {
        "serial": "x",
        "name": "A" * 101,
        "position": {"lat": "north", "lon": 116.4},
        "address": "某地",
        "district": "999999",
        "indoor": "maybe",
        "access": "public",
        "opening_hours": "sometimes",
        "season_from": "2026-10-01",
        "season_until": "2026-09-01",
    }
    zh = await gateway.post("/api/v1/aeds", headers=admin, json=device)
    en = await gateway.post("/api/v1/aeds", headers=admin | {"accept-language": "en"}, json=device)
    assert zh.status_code == en.status_code == 422
    said = {e["location"][-1]: e["message"] for e in zh.json()["errors"]}
    assert said["serial"] == "至少 3 个字符" and said["name"] == "最多 100 个字符" and said["lat"] == "须为数字"
    assert said["indoor"] == "须为 true 或 false" and said["district"].startswith("须为以下之一：'110101'、")
    assert said["opening_hours"].startswith("开放时间格式不正确")
    english = {e["location"][-1]: e["message"] for e in en.json()["errors"]}
    assert english["serial"] == "String should have at least 3 characters"
    assert said.keys() == english.keys() and not set(said.values()) & set(english.values())
