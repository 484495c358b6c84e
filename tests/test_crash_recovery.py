"""`kill -9` of each process in turn — the five services, the broker, PostgreSQL — while people register through
the gateway (identity → ledger opens an account, audit records the event in its trail). Clients retry what
failed, as the mini-program does. After recovery every effect exists exactly once, `ledger verify` and
`audit verify-trail` pass.

The stack here has a PostgreSQL and a Tansu of its own (durable PostgreSQL settings: a killed server must keep
what it acknowledged), so killing them disturbs no other test. Tansu keeps its log in memory: killing it loses
events it had acknowledged, which the relays notice and publish again (servicekit.outbox).
"""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from devstack.pytest_plugin import Infra, embedded_infra, start_stack
from devstack.stack import SERVICES, Stack

VICTIMS = [*SERVICES, "broker", "postgres"]
WORKERS = 4


@pytest.fixture(scope="module")
def crash_infra() -> Iterator[Infra]:
    with embedded_infra("timebank-crash-", keep=bool(os.environ.get("KEEP_TEST_LOGS"))) as infra:
        yield infra


@pytest.fixture(scope="module")
def crash_stack(crash_infra: Infra) -> Iterator[Stack]:
    stack = start_stack(crash_infra, extra_env={"GATEWAY_DEFAULT_TIMEOUT_S": "10"})
    yield stack
    stack.stop()


def _crash(victim: str, infra: Infra, stack: Stack) -> None:
    """Kill -9 and start again, as a supervisor would; returns when the process serves again."""
    if victim == "broker":
        infra.broker.child.kill()
        infra.broker.start()
    elif victim == "postgres":
        infra.postgres.child.kill()
        infra.postgres.start()
    else:
        stack.restart(victim, crash=True, timeout=90)


async def _register(client: httpx.AsyncClient, openid: str) -> str:
    """Log in (which registers on first login) until it succeeds, as a retrying client would."""
    async with asyncio.timeout(180):
        while True:
            try:
                response = await client.post("/api/v1/auth/wechat-login", json={"code": f"dev-{openid}"})
                if response.status_code == 200:
                    return response.json()["person_id"]
            except httpx.TransportError:  # the gateway itself restarting: retry
                pass
            await asyncio.sleep(0.3)


async def test_kill_9_of_any_process_during_a_burst_loses_nothing_and_doubles_nothing(crash_infra, crash_stack):
    registered: set[str] = set()
    stop = asyncio.Event()

    async def burst(worker: int) -> None:
        async with httpx.AsyncClient(base_url=crash_stack.gateway_url, timeout=15) as client:
            n = 0
            while not stop.is_set():
                registered.add(await _register(client, f"crash-{worker}-{n}-{uuid.uuid4().hex[:6]}"))
                n += 1

    workers = [asyncio.create_task(burst(w)) for w in range(WORKERS)]
    try:
        for victim in VICTIMS:
            await asyncio.sleep(1.5)  # some registrations in flight and some events not yet consumed
            await asyncio.to_thread(_crash, victim, crash_infra, crash_stack)
        await asyncio.sleep(1.5)
    finally:
        stop.set()
        await asyncio.gather(*workers)
    assert len(registered) >= 20

    ledger = create_async_engine(crash_stack.database_url["ledger"])
    audit = create_async_engine(crash_stack.database_url["audit"])
    try:
        async def accounts() -> dict[str, int]:
            async with ledger.connect() as conn:
                rows = await conn.execute(text(
                    "SELECT owner_person_id::text, count(*) FROM accounts WHERE origin = 'earned' "
                    "AND owner_person_id::text = ANY(:ids) GROUP BY 1"), {"ids": sorted(registered)})
                return dict(rows.all())

        async with asyncio.timeout(180):
            while len(found := await accounts()) < len(registered):
                await asyncio.sleep(1)
        assert set(found) == registered and set(found.values()) == {1}, "one account per person, none lost"

        async with audit.connect() as conn:
            async with asyncio.timeout(120):
                while (await conn.execute(text(
                        "SELECT count(DISTINCT subject) FROM audit_log WHERE type = 'timebank.identity.person.registered' "
                        "AND subject = ANY(:ids)"), {"ids": sorted(registered)})).scalar() < len(registered):
                    await asyncio.sleep(1)
                    await conn.rollback()
            once = (await conn.execute(text(
                "SELECT count(*) FROM audit_log WHERE type = 'timebank.identity.person.registered' "
                "AND subject = ANY(:ids)"), {"ids": sorted(registered)})).scalar()
        assert once == len(registered), "each registration is in the trail once"
    finally:
        await ledger.dispose()
        await audit.dispose()

    for service, command in (("ledger", "verify"), ("audit", "verify-trail")):
        result = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", service, command],
                                         capture_output=True, text=True, timeout=120,
                                         env={**os.environ, **crash_stack.service_env(service)})
        assert result.returncode == 0, result.stdout + result.stderr
