from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine


@pytest.fixture
async def gateway(stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=10) as client:
        yield client


class Sql:
    """Read-only peeks into a service's own database, for assertions."""

    def __init__(self, url: str) -> None:
        self.engine = create_async_engine(url, pool_size=1)

    async def scalar(self, sql: str, **params):
        async with self.engine.connect() as conn:
            return (await conn.execute(text(sql), params)).scalar()

    async def rows(self, sql: str, **params):
        async with self.engine.connect() as conn:
            return (await conn.execute(text(sql), params)).all()


@pytest.fixture
async def sql(stack) -> AsyncIterator[dict[str, Sql]]:
    peeks = {name: Sql(url) for name, url in stack.database_url.items()}
    yield peeks
    for peek in peeks.values():
        await peek.engine.dispose()


async def login(client: httpx.AsyncClient, openid: str | None = None) -> dict:
    response = await client.post("/api/v1/auth/wechat-login", json={"code": f"dev-{openid or uuid.uuid4().hex}"})
    assert response.status_code == 200, response.text
    return response.json()


async def eventually(check, *, timeout: float = 30.0, interval: float = 0.2):
    """Await `check()` until it returns something truthy; the last value is returned."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result or asyncio.get_running_loop().time() > deadline:
            return result
        await asyncio.sleep(interval)


@pytest.fixture
def helpers():
    class H:
        pass
    h = H()
    h.login, h.eventually = login, eventually
    return h
