"""(d) Malformed JSON and wrong types get a 4xx problem response and change nothing."""
import pytest


@pytest.mark.parametrize("body,content_type", [
    (b'{"code":', "application/json"),            # malformed JSON
    (b'{"code": 12345}', "application/json"),      # wrong type
    (b'{"code": ""}', "application/json"),         # empty
    (b'{}', "application/json"),                   # missing field
    (b'[1, 2]', "application/json"),               # wrong shape
    (b'code=dev-x', "application/x-www-form-urlencoded"),
])
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
    en = await gateway.post("/api/v1/auth/wechat-login", content=b"{",
                            headers={"content-type": "application/json", "accept-language": "en-GB"})
    assert zh.json()["title"] == "输入不符合要求" and en.json()["title"] == "Invalid input"
    assert zh.json()["errors"][0]["code"] == "json_invalid"


@pytest.mark.parametrize("form", [
    {},                                              # no grant_type
    {"grant_type": "authorization_code"},            # unsupported
    {"grant_type": "password", "username": "admin"},  # no password
])
async def test_bad_token_requests_are_refused(gateway, form):
    response = await gateway.post("/api/v1/auth/token", data=form)
    assert 400 <= response.status_code < 500
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_unknown_paths_are_problem_404s(gateway):
    response = await gateway.get("/api/v1/nothing-here")
    assert response.status_code == 404 and response.json()["type"].endswith("/not-found")
