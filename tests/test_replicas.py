"""Several replicas of one service (`docker compose up --scale ledger=3`): they migrate one at a time, share the
consumer group's partitions, and apply every event once between them; two of svc-aed share the link to 120
without sending an incident's updates twice or out of order."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from devstack import scenario
from devstack.postgres import free_port
from devstack.processes import Child, wait_until
from devstack.pytest_plugin import Infra, login
from devstack.stack import Stack


def test_replicas_started_together_migrate_one_at_a_time(infra: Infra):
    database_url = infra.create_database("ledger_replicas")
    env = {"LEDGER_DATABASE_URL": database_url, "LEDGER_KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap_servers}
    migrators = [
        subprocess.Popen(
            [sys.executable, "-m", "ledger", "migrate"],
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [migrator.communicate(timeout=120)[0] for migrator in migrators]
    assert [migrator.returncode for migrator in migrators] == [0] * 4, "\n---\n".join(outputs)

    async def versions() -> list[str]:
        engine = create_async_engine(database_url)
        try:
            async with engine.connect() as conn:
                return list((await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars())
        finally:
            await engine.dispose()

    assert len(asyncio.run(versions())) == 1


@asynccontextmanager
async def _another(stack: Stack, service: str, name: str, **env: str) -> AsyncIterator[str]:
    """One more process of `service` beside the stack's, on its database and consumer group; yields its URL."""
    port = free_port()
    replica = Child(
        name,
        [sys.executable, "-m", service, "serve"],
        stack.log_dir / f"{name}.log",
        env={**stack.service_env(service), f"{service.upper()}_PORT": str(port), **env},
    )
    replica.start()
    base = f"http://127.0.0.1:{port}"
    try:
        await asyncio.to_thread(
            wait_until,
            lambda: httpx.get(base + "/readyz", timeout=2).status_code == 200,
            timeout=60,
            interval=0.2,
            what=f"{name} ready",
        )
        yield base
    finally:
        await asyncio.to_thread(replica.stop)


def _applied(metrics: str, consumer_prefix: str) -> float:
    """Events this process's consumers of the service applied (consumer_events_applied_total)."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(metrics)
        if family.name == "consumer_events_applied"
        for sample in family.samples
        if sample.name.endswith("_total") and sample.labels["consumer"].startswith(consumer_prefix)
    )


async def test_two_replicas_of_the_ledger_share_its_events_and_apply_none_twice(stack: Stack, gateway, sql):
    first = stack.url("ledger")
    async with _another(stack, "ledger", "ledger-replica") as second, httpx.AsyncClient(timeout=10) as client:

        async def applied() -> tuple[float, float]:
            texts = [(await client.get(base + "/metrics")).text for base in (first, second)]
            return _applied(texts[0], "ledger"), _applied(texts[1], "ledger")

        before = await applied()
        people: list[str] = []
        # Each registration is an event keyed by the new person, so they spread over the topic's partitions;
        # the group rebalances when the second replica joins, then both apply some.
        for _ in range(300):
            people.append((await login(gateway, f"replica-{uuid.uuid4().hex}"))["person_id"])
            now = await applied()
            if len(people) >= 12 and all(after > was for after, was in zip(now, before, strict=True)):
                break
            await asyncio.sleep(0.1)
        now = await applied()
        assert all(after > was for after, was in zip(now, before, strict=True)), (before, now)

        async def opened_once() -> bool:
            counts = await sql["ledger"].rows(
                "SELECT owner_person_id::text, count(*) FROM accounts "
                "WHERE kind = 'person' AND owner_person_id::text = ANY(:people) GROUP BY 1",
                people=people,
            )
            return len(counts) == len(people) and all(count == 4 for _, count in counts)

        deadline = asyncio.get_running_loop().time() + 60
        while not await opened_once():
            assert asyncio.get_running_loop().time() < deadline, "every registration opened its four accounts once"
            await asyncio.sleep(0.2)

    verify = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "ledger", "verify"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **stack.service_env("ledger")},
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr


async def test_two_replicas_of_aed_send_each_incidents_updates_to_120_once_and_in_order(stack: Stack, gateway):
    """While one replica's call to 120 with an incident's opening is slow to be answered, the incident's newer
    steps are queued; neither replica sends them before that call is answered, and none goes twice."""
    token = f"replicas-{uuid.uuid4().hex}"
    partner = await scenario.partner(gateway, "emergency-120")
    async with _another(stack, "aed", "aed-replica"), httpx.AsyncClient(base_url=stack.url("dispatch120")) as fake:
        await fake.post("/_fake/slow", json={"containing": token, "seconds": 2.5, "requests": 1})
        caller = await scenario.resident(gateway, born=1962)
        opened = await gateway.post(
            "/api/v1/incidents", headers=caller.headers, json={"position": {"lat": 39.9, "lon": 116.4}, "note": token}
        )
        assert opened.status_code == 201, opened.text
        incident = opened.json()["id"]
        deadline = asyncio.get_running_loop().time() + 30
        while (await fake.get("/_fake/slow")).json()["open"] != 1:
            assert asyncio.get_running_loop().time() < deadline, "the opening reached 120"
            await asyncio.sleep(0.05)
        for status in ("ambulance_dispatched", "ambulance_on_scene_soon", "ambulance_arrived"):
            # Both replicas poll every 0.2 s: each step gives both a chance to take it.
            step = await gateway.post(f"/api/v1/incidents/{incident}/updates", headers=partner, json={"status": status})
            assert step.status_code == 200, step.text
            await asyncio.sleep(0.3)

        deadline = asyncio.get_running_loop().time() + 30
        while True:
            updates = (await fake.get("/_fake/updates", params={"incident_id": incident})).json()
            if sum(u.get("step") == "dispatch_update" for u in updates) >= 3:
                break
            assert asyncio.get_running_loop().time() < deadline, updates
            await asyncio.sleep(0.2)
    assert updates[0]["kind"] == "opened" and updates[0]["note"] == token
    ids = [u["update_id"] for u in updates]
    assert ids == sorted(set(ids)), "each update once, in the order queued"
    assert all(u["_slow_calls_open"] == 0 for u in updates), "nothing went while the opening was out with 120"


async def test_a_service_with_two_workers_reports_the_metrics_of_both(stack: Stack):
    """WORKERS=2: a scrape is answered by either worker and must count what both served (prometheus_client's
    multiprocess mode); one worker's own registry would report about half."""
    async with _another(stack, "ledger", "ledger-workers", LEDGER_WORKERS="2") as base:
        served = 40
        for _ in range(served):  # a connection each, so the kernel spreads them over both workers' accepts
            async with httpx.AsyncClient(timeout=10) as client:
                assert (await client.get(base + "/healthz")).status_code == 200
        for _ in range(6):
            async with httpx.AsyncClient(timeout=10) as client:
                metrics = (await client.get(base + "/metrics")).text
            counted = sum(
                sample.value
                for family in text_string_to_metric_families(metrics)
                if family.name == "http_requests"
                for sample in family.samples
                if sample.name == "http_requests_total" and sample.labels["route"] == "/healthz"
            )
            assert counted == served, metrics
