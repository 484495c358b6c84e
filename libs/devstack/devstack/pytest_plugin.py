"""Test harness: real PostgreSQL and a real Kafka-protocol broker, started once per test run.

Set TEST_DATABASE_URL (a server URL without a database name, e.g. postgresql+asyncpg://u:p@host:5432)
and TEST_KAFKA_BOOTSTRAP_SERVERS to use external servers instead of the embedded ones.
Every test database is fresh and uniquely named, so runs never see each other's data.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Literal

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from devstack.broker import TansuBroker
from devstack.postgres import EmbeddedPostgres, free_port
from devstack.stack import SERVICES, Ports, Stack


@dataclass
class Infra:
    server_url: str  # postgresql+asyncpg://user@host:port (no database)
    kafka_bootstrap_servers: str
    postgres: EmbeddedPostgres | None
    broker: TansuBroker | None
    workdir: Path

    def create_database(self, prefix: str) -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        if self.postgres is not None:
            self.postgres.psql(f'CREATE DATABASE "{name}"')
        else:
            import asyncio

            import asyncpg

            async def create() -> None:
                conn = await asyncpg.connect(self.server_url.replace("+asyncpg", "") + "/postgres")
                try:
                    await conn.execute(f'CREATE DATABASE "{name}"')
                finally:
                    await conn.close()

            asyncio.run(create())
        return f"{self.server_url}/{name}"


# A deadlock is a lock-order bug even when a retry hides it (a request that meets one gets a 503), and any test
# may be the one that happens to hit it: the whole run is judged.
NO_DEADLOCKS = "PostgreSQL broke deadlocks (a lock-order bug; the statements that waited for each other):\n"


def deadlocks_broken(postgres_log: Path) -> list[str]:
    """PostgreSQL's account of each deadlock it broke: the two statements that waited for each other. (A test
    that raises the deadlock's SQLSTATE itself, to exercise a retry, leaves no such account.)"""
    lines = postgres_log.read_text(errors="replace").splitlines() if postgres_log.exists() else []
    return [
        "\n".join(lines[n : n + 4])
        for n, line in enumerate(lines)
        if "DETAIL:  Process" in line and "waits for" in line
    ]


@contextmanager
def embedded_infra(prefix: str, *, keep: bool = False, judged: bool = False) -> Iterator[Infra]:
    """A durable PostgreSQL and a Tansu of their own, for benchmarks and for tests that kill them; the working
    directory (up to ~0.5 GB of PostgreSQL data) is removed afterwards unless `keep`. `judged` (tests): a
    deadlock PostgreSQL broke meanwhile fails the caller, as on the shared PostgreSQL."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    postgres = EmbeddedPostgres(workdir / "pg", free_port(), log_dir=workdir / "logs", durable=True)
    broker = TansuBroker(free_port(), data_dir=workdir / "broker", log_dir=workdir / "logs")
    postgres.start()
    broker.start()
    try:
        yield Infra(postgres.url("").rstrip("/"), broker.bootstrap_servers, postgres, broker, workdir)
    finally:
        broker.stop()
        postgres.stop()
        deadlocks = deadlocks_broken(postgres.child.log_path) if judged else []
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    assert not deadlocks, NO_DEADLOCKS + "\n\n".join(deadlocks)


@contextmanager
def isolated_stack(prefix: str) -> Iterator[Stack]:
    """The whole system, seeded, on a PostgreSQL and a broker of its own: for tests that stop or damage parts of
    it, and for any second stack — consumer group names are fixed, so one on the shared broker would take
    partitions from the session stack's consumers."""
    with embedded_infra(prefix, keep=bool(os.environ.get("KEEP_TEST_LOGS")), judged=True) as infra:
        stack = start_stack(infra)
        try:
            stack.seed_demo()
            yield stack
        finally:
            stack.stop()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "restarts_broker: stops and starts the shared broker (runs last)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that stop the shared Tansu run after the others: while it is away every service's relay backs off
    and its consumers wait, which would slow the tests that follow on the same broker."""
    items.sort(key=lambda item: item.get_closest_marker("restarts_broker") is not None)


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    workdir = Path(tempfile.mkdtemp(prefix="timebank-test-"))
    postgres = broker = None
    try:
        server_url = os.environ.get("TEST_DATABASE_URL", "").rstrip("/")
        if not server_url:
            postgres = EmbeddedPostgres(workdir / "pg", free_port(), log_dir=workdir / "logs", durable=False)
            postgres.start()
            server_url = postgres.url("").rstrip("/")
        bootstrap = os.environ.get("TEST_KAFKA_BOOTSTRAP_SERVERS", "")
        if not bootstrap:
            broker = TansuBroker(free_port(), data_dir=workdir / "broker", log_dir=workdir / "logs")
            broker.start()
            bootstrap = broker.bootstrap_servers
        yield Infra(server_url, bootstrap, postgres, broker, workdir)
    finally:
        if broker:
            broker.stop()
        if postgres:
            postgres.stop()
        deadlocks = deadlocks_broken(postgres.child.log_path) if postgres else []
        if os.environ.get("KEEP_TEST_LOGS"):
            print(f"test logs kept in {workdir / 'logs'}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    assert not deadlocks, NO_DEADLOCKS + "\n\n".join(deadlocks)


FAST_RECOVERY = {
    "OUTBOX_MAX_BACKOFF_S": "1",
    "OUTBOX_POLL_INTERVAL_S": "0.2",
    "CONSUMER_RETRY_BACKOFF_S": "0.05",
    "KAFKA_REQUEST_TIMEOUT_MS": "3000",
    "JWKS_MIN_REFRESH_INTERVAL_S": "0.5",
    "KAFKA_FETCH_MAX_WAIT_MS": "50",  # each cross-service step of a test at once, not after a deployed wait
}

# The consumer groups' timing docker-compose.yml deploys with. The settings' own defaults are the dev stack's and
# the tests' (quick rejoins after a restart, DESIGN.md); a heartbeat every 300 ms made the idle embedded broker
# write each group's state three times a second.
DEPLOYED_GROUP_TIMING = {"KAFKA_SESSION_TIMEOUT_MS": "10000", "KAFKA_HEARTBEAT_INTERVAL_MS": "3000"}


def start_stack(
    infra: Infra, *, extra_env: dict[str, str] | None = None, pace: Literal["tests", "deployed"] = "tests"
) -> Stack:
    """The whole system on `infra`, started (see `plan_stack`)."""
    stack = plan_stack(infra, extra_env=extra_env, pace=pace)
    try:
        stack.start()
    except Exception:
        stack.stop()
        raise
    return stack


def plan_stack(
    infra: Infra, *, extra_env: dict[str, str] | None = None, pace: Literal["tests", "deployed"] = "tests"
) -> Stack:
    """The whole system on `infra`, not yet started. At the tests' pace, retries, polls and time-driven jobs come
    round within a test's patience, the rate limits admit the suite as one busy client, and the services read the
    clock file tests move; at the deployed pace (benchmarks) every setting keeps its production default, the
    consumer groups keep docker-compose.yml's timing, and there is no clock file (production refuses one, and
    reading it is on every `now()`), so what is measured is what runs."""
    ports = Ports(**{name: free_port() for name in ["gateway", *SERVICES, "wechat", "dispatch120", "tencentcloud"]})
    env: dict[str, str] = {}
    if pace == "tests":
        env |= {f"{svc.upper()}_{key}": value for svc in SERVICES for key, value in FAST_RECOVERY.items()}
        env["GATEWAY_JWKS_MIN_REFRESH_INTERVAL_S"] = FAST_RECOVERY["JWKS_MIN_REFRESH_INTERVAL_S"]
        # The whole suite is one client address; the gateway's own tests check the limits with their own settings.
        # So are the seeded staff tokens, which the fuzz suite drives hard.
        env["GATEWAY_RATE_LIMIT_PER_IP"] = env["GATEWAY_RATE_LIMIT_PUBLIC_LOOKUP"] = "100000/minute"
        env["GATEWAY_RATE_LIMIT_PER_PRINCIPAL"] = "100000/minute"
        env["MATCHING_LIFECYCLE_INTERVAL_S"] = "0.5"  # no-shows and expiries show up within a test's patience
        env["AED_UPKEEP_INTERVAL_S"] = "0.5"
        env["AED_ALERT_UNSEEN_SMS_S"] = "2"  # an unseen alert's text message within a test's patience
        env["IDENTITY_AGE_FACTS_INTERVAL_S"] = "0.5"  # a birthday reached by a moved clock is told at once
        env["IDENTITY_CLOSURE_INTERVAL_S"] = "0.5"  # a closure due by a moved clock is carried out at once
    else:
        env |= {f"{svc.upper()}_{key}": value for svc in SERVICES for key, value in DEPLOYED_GROUP_TIMING.items()}
    env.update(extra_env or {})
    return Stack(
        ports=ports,
        database_url={name: infra.create_database(name) for name in SERVICES},
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        log_dir=infra.workdir / "logs" / f"stack-{uuid.uuid4().hex[:6]}",
        extra_env=env,
        clock_file=infra.workdir / f"clock-{uuid.uuid4().hex[:6]}" if pace == "tests" else None,
    )


@pytest.fixture(scope="session")
def stack(infra: Infra) -> Iterator[Stack]:
    """The whole system (five services, gateway, fake WeChat) as real processes, for the whole run."""
    running = start_stack(infra)
    running.seed_demo()
    yield running
    running.stop()


class TestClock:
    """Moves the running services' time (servicekit.clock): `advance(hours=2)`; back to real time after the test."""

    __test__ = False  # a helper, not a test class, wherever it is imported

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0.0

    def advance(self, *, seconds: float = 0, minutes: float = 0, hours: float = 0) -> None:
        self.offset += seconds + 60 * minutes + 3600 * hours
        self.path.write_text(str(self.offset))

    def travel_to(self, when: datetime) -> None:
        """Make the services' now `when` (approximately: real time keeps running from there)."""
        self.offset = (when - datetime.now(UTC)).total_seconds()
        self.path.write_text(str(self.offset))

    def reset(self) -> None:
        self.offset = 0.0
        self.path.write_text("0")


@pytest.fixture
def clock(stack) -> Iterator[TestClock]:
    moved = TestClock(stack.clock_file)
    yield moved
    moved.reset()


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


async def staff_headers(client: httpx.AsyncClient, username: str, password: str = "demo-password-2026") -> dict:
    """Bearer headers for a seeded demo staff member (admin, auditor, institution, officer-1101xx)."""
    response = await client.post(
        "/api/v1/auth/token", data={"grant_type": "password", "username": username, "password": password}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def eventually(check, *, timeout: float = 30.0, interval: float = 0.2):
    """Await `check()` until it returns something truthy; the last value is returned."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result or asyncio.get_running_loop().time() > deadline:
            return result
        await asyncio.sleep(interval)


@pytest.fixture
def helpers() -> SimpleNamespace:
    """`helpers.login(client, openid=None)`, `helpers.staff_headers(client, username)` and
    `helpers.eventually(check, timeout=…)`."""
    return SimpleNamespace(login=login, staff_headers=staff_headers, eventually=eventually)
