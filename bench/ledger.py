"""Ledger throughput against pgbench's built-in TPC-B-like script on the same PostgreSQL, same concurrency,
in the same run (rounds alternate: pgbench, settlement, HTTP transfers).

- Settlement: `service.completed` events (one per request, each with a hold placed beforehand; the requests
  spread over --elders elders, default 20, one elder's account being hot in every batch) are put on
  `matching.events`; the clock runs from the start of the running ledger service's first settling transaction
  to the commit of its last (hold posted, volunteer paid, events in its outbox). Target >= 1.0 x pgbench tps.
- Single transfers through the HTTP API: gifts between confirmed relatives, each with its own
  Idempotency-Key, posted by wrk straight to svc-ledger. Target >= 0.25 x pgbench tps.

Set-up goes through the real system: people sign in with WeChat, verify, declare residence, claim and
confirm kinship through identity; an officer makes the paying elder special and grants coins; the bench
plays matching only by producing its events.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
from aiokafka import AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bench._harness import bench_stack, embedded_infra, figure_in, median, wait_count
from bench._results import Figure, report
from contracts.matching import RequestSubmitted, ServiceCompleted, ServiceParticipant
from contracts.topics import Topic
from devstack.people import resident_number
from devstack.postgres import bin_dir
from servicekit.events import build_event, record_headers

PGBENCH = bin_dir() / "pgbench"
MINUTES = 60


def pgbench(url: str, *, clients: int, seconds: int) -> float:
    parts = urlsplit(url.replace("postgresql+asyncpg", "postgresql"))
    args = ["-h", parts.hostname or "127.0.0.1", "-p", str(parts.port), "-U", parts.username or "postgres"]
    database = parts.path.lstrip("/")
    out = subprocess.run(
        [str(PGBENCH), *args, "-c", str(clients), "-j", "2", "-T", str(seconds), "-n", database],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(figure_in(r"tps = ([\d.]+)", out))


def wrk_gifts(url: str, pairs: list[tuple[str, str]], *, connections: int, seconds: int) -> float:
    """Gifts of one minute, giver i -> relative i round-robin, a fresh Idempotency-Key per request."""
    tokens = ",".join(f'"{token}"' for token, _ in pairs)
    bodies = ",".join(f'\'{{"to_person_id": "{to}", "amount": 1}}\'' for _, to in pairs)
    script = f"""
local tokens = {{{tokens}}}
local bodies = {{{bodies}}}
local counter = 0
local prefix = "{uuid.uuid4().hex}-"
request = function()
  counter = counter + 1
  local i = (counter % #tokens) + 1
  return wrk.format("POST", "/api/v1/gifts", {{["Authorization"] = "Bearer " .. tokens[i],
    ["Content-Type"] = "application/json", ["Idempotency-Key"] = prefix .. counter}}, bodies[i])
end
"""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", handle.name, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise SystemExit(f"{non2xx.group(1)} gifts failed — the benchmark is invalid\n{out}")
    return float(figure_in(r"Requests/sec:\s+([\d.]+)", out))


class World:
    """The people the bench needs, made through the real system."""

    def __init__(self, stack, client: httpx.Client) -> None:
        self.stack, self.client = stack, client

    def login(self) -> dict:
        response = self.client.post("/api/v1/auth/wechat-login", json={"code": f"dev-{uuid.uuid4().hex}"})
        response.raise_for_status()
        return response.json()

    def staff(self, username: str) -> dict:
        response = self.client.post(
            "/api/v1/auth/token",
            data={"grant_type": "password", "username": username, "password": "demo-password-2026"},
        )
        response.raise_for_status()
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    def rich_elder(self, minutes: int) -> dict:
        elder = self.login()
        headers = {"Authorization": f"Bearer {elder['access_token']}"}
        self.client.post(
            "/api/v1/me/real-name", headers=headers, json={"name": "王秀英", "id_number": resident_number(1945)}
        ).raise_for_status()
        self.client.put(
            "/api/v1/me/residence", headers=headers, json={"district": "110105", "permanent_resident": True}
        ).raise_for_status()
        officer = self.staff("officer-110105")
        self.client.post(
            f"/api/v1/people/{elder['person_id']}/special-groups",
            headers=officer,
            json={"categories": ["advanced_age"], "reason": "bench"},
        ).raise_for_status()
        deadline = time.monotonic() + 60
        while True:
            response = self.client.post(
                "/api/v1/grants",
                headers=officer | {"Idempotency-Key": uuid.uuid4().hex},
                json={"person_id": elder["person_id"], "amount": minutes, "reason": "bench"},
            )
            if response.status_code == 201:
                return elder
            if time.monotonic() > deadline:
                raise SystemExit(f"grant never accepted: {response.text}")
            time.sleep(0.3)

    def relatives(self, count: int) -> list[tuple[dict, dict]]:
        pairs = []
        for _ in range(count):
            giver, receiver = self.login(), self.login()
            claim = self.client.post(
                "/api/v1/kinships",
                headers={"Authorization": f"Bearer {giver['access_token']}"},
                json={"relative_id": receiver["person_id"], "relation": "parent"},
            )
            claim.raise_for_status()
            self.client.post(
                f"/api/v1/kinships/{claim.json()['id']}/confirm",
                headers={"Authorization": f"Bearer {receiver['access_token']}"},
            ).raise_for_status()
            pairs.append((giver, receiver))
        return pairs


def _serialised(events: list) -> list[tuple[bytes, bytes, str]]:
    return [
        (build_event(source="matching", data=data, subject=str(key)).to_bytes(), str(key).encode(), data.TYPE)
        for data, key in events
    ]


async def _connected_producer(bootstrap: str) -> AIOKafkaProducer:
    """As matching's outbox relay sends: connected to the broker before it has anything to send."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=512 * 1024, enable_idempotence=False, acks="all"
    )
    await producer.start()
    return producer


async def _send(producer: AIOKafkaProducer, records: list[tuple[bytes, bytes, str]]) -> None:
    """Keyed by request, with the relay's headers."""
    for value, key, event_type in records:
        await producer.send(Topic.MATCHING.value, value, key=key, headers=record_headers(event_type))
    await producer.flush()


async def _produce(bootstrap: str, records: list[tuple[bytes, bytes, str]]) -> None:
    producer = await _connected_producer(bootstrap)
    try:
        await _send(producer, records)
    finally:
        await producer.stop()


async def settlement_round(stack, elders: list[dict], volunteers: list[str], count: int) -> float:
    """Holds first (not timed), then `count` completions: events/s until all are settled."""
    starts = datetime.now(UTC) + timedelta(days=1)
    requests = [uuid.uuid4() for _ in range(count)]
    payer = {r: uuid.UUID(elders[i % len(elders)]["person_id"]) for i, r in enumerate(requests)}
    url, bootstrap = stack.database_url["ledger"], stack.kafka_bootstrap_servers
    await _produce(
        bootstrap,
        _serialised(
            [
                (
                    RequestSubmitted(
                        request_id=r,
                        elder_id=payer[r],
                        district="110105",
                        category="协助服务",
                        estimated_minutes=MINUTES,
                        starts_at=starts,
                        ends_at=starts + timedelta(hours=1),
                        submitted_by=str(payer[r]),
                        submitted_at=datetime.now(UTC),
                    ),
                    r,
                )
                for r in requests
            ]
        ),
    )
    holds = "SELECT count(*) FROM holds WHERE request_id = ANY(:r)"
    await wait_count(url, holds, count, params={"r": requests})
    completions = _serialised(
        [
            (
                ServiceCompleted(
                    request_id=r,
                    elder_id=payer[r],
                    district="110105",
                    completed_at=datetime.now(UTC),
                    participants=[
                        ServiceParticipant(volunteer_id=uuid.UUID(volunteers[i % len(volunteers)]), minutes=MINUTES)
                    ],
                ),
                r,
            )
            for i, r in enumerate(requests)
        ]
    )  # matching's work, done before the clock starts
    producer = await _connected_producer(bootstrap)  # a relay's connection is made once, not per event
    try:
        await _send(producer, completions)
        settled = "SELECT count(*) FROM holds WHERE request_id = ANY(:r) AND status = 'settled'"
        # Only says when the round is over; the clock is read from the settling transactions themselves, so a
        # slow poll is not counted and a fast one does not load the database being measured.
        await wait_count(url, settled, count, params={"r": requests}, interval=0.25)
    finally:
        await producer.stop()
    return count / await _settling_seconds(url, requests)


async def _settling_seconds(url: str, requests: list[uuid.UUID]) -> float:
    """From the start of the first transaction that settled one of `requests` (its `now()`, the holds'
    `resolved_at`) to the commit of the last (PostgreSQL's commit timestamp of the row version it wrote).
    Left out: the moments before the ledger's consumer starts, which on the embedded broker are mostly its
    fetch held for the whole wait (ADR 20) — a latency Apache Kafka does not have, not settlement work."""
    engine = create_async_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            first, last = (
                await conn.execute(
                    text(
                        "SELECT min(resolved_at), max(pg_xact_commit_timestamp(xmin)) FROM holds"
                        " WHERE request_id = ANY(:r)"
                    ),
                    {"r": requests},
                )
            ).one()
    finally:
        await engine.dispose()
    return (last - first).total_seconds()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--clients", type=int, default=8, help="pgbench clients = wrk connections")
    parser.add_argument("--events", type=int, default=3000, help="service completions per settlement round")
    parser.add_argument("--pairs", type=int, default=100, help="giver/relative pairs for the HTTP gifts")
    parser.add_argument("--with-audit", action="store_true", help="keep svc-audit consuming during the rounds")
    parser.add_argument("--workers", type=int, default=1, help="svc-ledger worker processes")
    parser.add_argument("--elders", type=int, default=20, help="elders paying for the settled requests")
    parser.add_argument("--env", action="append", default=[], help="NAME=value for the running stack (experiments)")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 1
    env = {
        "IDENTITY_ACCESS_TOKEN_TTL_S": "7200",
        "LEDGER_GRANT_LIMIT_MINUTES": "1000000000",
        # One worker (the default): on two cores a second only added contention (measured: gifts
        # 0.14 vs 0.20, settlement 0.82-0.89 vs 0.94-1.03).
        "LEDGER_WORKERS": str(args.workers),
        **dict(e.split("=", 1) for e in args.env),
    }
    with embedded_infra() as infra:
        stack = bench_stack(infra, env)
        try:
            stack.seed_demo()
            pgbench_url = infra.create_database("pgbench")
            parts = urlsplit(pgbench_url.replace("postgresql+asyncpg", "postgresql"))
            subprocess.run(
                [
                    str(PGBENCH),
                    "-i",
                    "-s",
                    "10",
                    "-q",
                    "-h",
                    parts.hostname,
                    "-p",
                    str(parts.port),
                    "-U",
                    parts.username or "postgres",
                    parts.path.lstrip("/"),
                ],
                check=True,
                capture_output=True,
            )
            with httpx.Client(base_url=stack.gateway_url, timeout=30) as client:
                world = World(stack, client)
                elders = [world.rich_elder(MINUTES * args.events * args.rounds) for _ in range(args.elders)]
                pairs = world.relatives(args.pairs)
            givers = [g["person_id"] for g, _ in pairs]
            gifts = [(g["access_token"], r["person_id"]) for g, r in pairs]
            pg, settle, http = [], [], []
            if not args.with_audit:
                # Audit consumes every event of the system (chain, rules) and would take its share of the two
                # cores from the ledger being measured; it catches up from its offsets when started again.
                stack.children["audit"].stop()
            for round_ in range(args.rounds):
                print(f"round {round_ + 1}: pgbench …", flush=True)
                pg.append(pgbench(pgbench_url, clients=args.clients, seconds=args.seconds))
                print(f"round {round_ + 1}: settlement …", flush=True)
                settle.append(asyncio.run(settlement_round(stack, elders, givers, args.events)))
                print(f"round {round_ + 1}: HTTP gifts …", flush=True)
                if round_ == 0:
                    wrk_gifts(stack.url("ledger"), gifts, connections=args.clients, seconds=2)  # warm-up
                http.append(wrk_gifts(stack.url("ledger"), gifts, connections=args.clients, seconds=args.seconds))
                print(
                    f"round {round_ + 1}: pgbench {pg[-1]:.0f} tps, settlement {settle[-1]:.0f}/s, "
                    f"HTTP gifts {http[-1]:.0f}/s",
                    flush=True,
                )
            verify = subprocess.run(
                [sys.executable, "-m", "ledger", "verify"],
                capture_output=True,
                text=True,
                env={**os.environ, **stack.service_env("ledger")},
            )
        finally:
            stack.stop()
    p, s, h = median(pg), median(settle), median(http)
    print(f"medians of {args.rounds} rounds, {args.clients} clients:")
    print(f"  pgbench TPC-B-like           : {p:8.0f} tps")
    print("ledger verify after the run:", "ok" if verify.returncode == 0 else "BROKEN\n" + verify.stdout)
    report(
        Figure(
            "ledger", "settlements from Kafka events", f"{s:,.0f} /s", f"pgbench TPC-B-like {p:,.0f} tps", s / p, 1.0
        )
    )
    report(
        Figure(
            "ledger",
            f"single gifts over HTTP, {args.clients} connections",
            f"{h:,.0f} /s",
            f"pgbench TPC-B-like {p:,.0f} tps",
            h / p,
            0.25,
        )
    )
    return 0 if verify.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
