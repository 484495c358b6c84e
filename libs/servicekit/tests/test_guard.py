"""The request guard and the database net: text PostgreSQL cannot store, oversized bodies and races between
two requests become 4xx problems before or instead of a 500."""

import json

import httpx
import pytest
from fastapi import FastAPI, Request

from servicekit.db import problem_for_database_error
from servicekit.errors import install_problem_handlers
from servicekit.guard import RequestGuard, text_flaw
from servicekit.observability import RequestContextMiddleware


@pytest.mark.parametrize(
    "body,flaw",
    [
        (b'{"code": "a\\u0000b"}', "nul"),
        (b'{"a": ["x", {"b": "\\u0000"}]}', "nul"),
        (b'{"code": "\\ud800"}', "surrogate"),
        (b'{"code": "\\udc00x"}', "surrogate"),
        (b'{"code": "\\ud800\\u0041"}', "surrogate"),
        (b'{"code": "\\ud83d"} ', "surrogate"),
        (b'{"code": "\\\\\\u0000"}', "nul"),  # an escaped backslash, then an escaped NUL
        (b'{"code": "ok"}', None),
        (b'{"code": "\\\\u0000"}', None),  # an escaped backslash, then the text u0000
        (b'{"code": "\\ud83d\\ude00"}', None),  # a surrogate pair: one emoji
        (b'{"code": "\\u00e9\\u5f20"}', None),
    ],
)
def test_json_escapes_are_checked_without_parsing(body, flaw):
    assert text_flaw("application/json", body) == flaw
    if flaw is None:
        json.loads(body)


def test_raw_nul_and_percent_encoded_nul_in_forms_are_flaws():
    assert text_flaw("text/csv", b"a,b\x00,c") == "nul"
    assert text_flaw("application/x-www-form-urlencoded", b"username=a%00b") == "nul"
    assert text_flaw("application/x-www-form-urlencoded", b"username=a%2500b") is None


class FakeUnique(Exception):
    sqlstate = "23505"


class FakeUntranslatable(Exception):
    sqlstate = "22021"


class FakeDeadlock(Exception):
    sqlstate = "40P01"


def test_database_refusals_map_to_problems_by_sqlstate():
    wrapped = RuntimeError("wrapper")
    wrapped.__cause__ = FakeUnique()
    assert problem_for_database_error(wrapped).status == 409
    assert problem_for_database_error(FakeUntranslatable()).status == 422
    busy = problem_for_database_error(FakeDeadlock())
    assert busy.status == 503 and busy.headers["Retry-After"] == "1"
    assert problem_for_database_error(RuntimeError("bug")) is None


def _app() -> FastAPI:
    app = FastAPI()
    app.add_middleware(RequestGuard, max_body_bytes=100)
    app.add_middleware(RequestContextMiddleware)
    install_problem_handlers(app)

    @app.post("/echo")
    async def echo(request: Request) -> dict:
        return {"length": len(await request.body())}

    @app.get("/boom")
    async def boom() -> dict:
        raise RuntimeError("bug")

    return app


async def test_the_guard_answers_problems_and_lets_clean_requests_through():
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        nul = await client.post("/echo", content=b'{"a":"\\u0000"}', headers={"content-type": "application/json"})
        query = await client.post("/echo?q=%00", content=b"{}")
        large = await client.post("/echo", content=b"x" * 101)
        fine = await client.post("/echo", content=b"x" * 100)
        boom = await client.get("/boom")
    assert nul.status_code == 422 and nul.json()["type"].endswith("/invalid-text")
    assert nul.headers["content-type"] == "application/problem+json"
    assert query.status_code == 422
    assert large.status_code == 413 and large.json()["limit"] == 100
    assert fine.json() == {"length": 100}
    assert boom.status_code == 500 and boom.headers["content-type"] == "application/problem+json"


def test_a_database_that_went_away_is_unavailable_not_a_conflict():
    from servicekit.db import is_transient, is_unavailable

    class Recovering(Exception):
        sqlstate = "57P03"

    reset = RuntimeError("wrapped")
    reset.__cause__ = ConnectionResetError(104, "Connection reset by peer")
    assert is_unavailable(Recovering()) and is_unavailable(reset)
    assert not is_unavailable(FakeUnique()) and not is_transient(Recovering())
    assert problem_for_database_error(Recovering()).status == 503
    assert problem_for_database_error(reset).status == 503
