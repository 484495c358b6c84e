"""`kill -9` of each process in turn — the five services, the broker, PostgreSQL — while people use the system
through the gateway in ways that cross services: they register (identity → the ledger opens an account), elders
have services delivered (matching → the ledger holds and settles their coins), callers raise an SOS (svc-aed
alerts responders, identity delivers the alerts) and every event goes to audit's trail. Clients retry what
failed, as the mini-program does: with the same Idempotency-Key where the API has one, else by reading the
state to see whether the step took. After recovery every effect exists exactly once, `ledger verify` and
`audit verify-trail` pass.

The stack here has a PostgreSQL and a Tansu of its own (durable PostgreSQL settings: a killed server must keep
what it acknowledged), so killing them disturbs no other test. Tansu keeps its log in the broker's store on disk
(ADR 15): killing Tansu or its store loses nothing it acknowledged, so no relay has to publish its outbox again
and no consumer has to re-read a log — the test fails if one did.
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from contracts.topics import TOPICS
from devstack import scenario
from devstack.pytest_plugin import Infra, TestClock, embedded_infra, start_stack
from devstack.stack import SERVICES, Stack

VICTIMS = [*SERVICES, "broker", "broker-store", "postgres"]
# What a relay and a consumer log when a broker lost or replaced its log (servicekit.outbox, servicekit.consumer).
LOST_LOG = "the broker lost events it had acknowledged"
REREAD = "re-reading from the earliest"
REGISTERING = 3
PATIENCE_S = 180  # how long a retrying client keeps at one step while the stack recovers
SERVICE_MINUTES = 30


@pytest.fixture(scope="module")
def crash_infra() -> Iterator[Infra]:
    with embedded_infra("timebank-crash-", keep=bool(os.environ.get("KEEP_TEST_LOGS")), judged=True) as infra:
        yield infra


@pytest.fixture(scope="module")
def crash_stack(crash_infra: Infra) -> Iterator[Stack]:
    # Services are delivered by moving the clock 50 minutes at a time: a responder's position reported just
    # before an SOS must still be fresh when the SOS arrives.
    stack = start_stack(crash_infra, extra_env={"GATEWAY_DEFAULT_TIMEOUT_S": "10", "AED_DUTY_TTL_S": "86400"})
    stack.seed_demo()
    yield stack
    stack.stop()


def _crash(victim: str, infra: Infra, stack: Stack) -> None:
    """Kill -9 and start again, as a supervisor would; returns when the process serves again."""
    assert infra.broker is not None and infra.postgres is not None  # embedded_infra starts both
    if victim in ("broker", "broker-store"):
        (infra.broker.child if victim == "broker" else infra.broker.store).kill()
        infra.broker.start()
    elif victim == "postgres":
        infra.postgres.child.kill()
        infra.postgres.start()
    else:
        stack.restart(victim, crash=True, timeout=90)


async def _until_answered(act: Callable[[], Awaitable[httpx.Response]], *, what: str) -> httpx.Response:
    """`_until_done` with no other way to tell the step took: it returns only with a successful answer."""
    response = await _until_done(act, what=what)
    assert response is not None
    return response


async def _until_done(
    act: Callable[[], Awaitable[httpx.Response]], done: Callable[[], Awaitable[bool]] | None = None, *, what: str
) -> httpx.Response | None:
    """Do `act` until it succeeds or `done` shows the step took anyway (its answer was lost in a crash);
    returns the successful response, or None when only `done` could tell."""
    last: object = None
    try:
        async with asyncio.timeout(PATIENCE_S):
            while True:
                try:
                    response = await act()
                    if response.status_code < 300:
                        return response
                    last = f"{response.status_code} {response.text}"
                except httpx.TransportError as e:  # the gateway itself restarting
                    last = repr(e)
                try:
                    if done is not None and await done():
                        return None
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.3)
    except TimeoutError:
        raise AssertionError(f"{what} never took; last answer: {last}") from None


async def _register(client: httpx.AsyncClient, openid: str) -> str:
    """Log in (which registers on first login), as a retrying client would."""
    response = await _until_answered(
        lambda: client.post("/api/v1/auth/wechat-login", json={"code": f"dev-{openid}"}), what="registration"
    )
    return response.json()["person_id"]


@dataclass
class Cast:
    """The people of the burst, made before the first crash."""

    officer: dict[str, str]
    emergency_120: dict[str, str]
    elder: scenario.Person
    volunteer: scenario.Person
    caller: scenario.Person
    responders: list[scenario.Person]
    spot: dict[str, float]
    granted: int


@dataclass
class Effects:
    registered: set[str] = field(default_factory=set)
    served: dict[str, int] = field(default_factory=dict)  # request id → minutes paid
    alerted: dict[str, set[str]] = field(default_factory=dict)  # incident id → responder ids


async def _cast(client: httpx.AsyncClient) -> Cast:
    granted = 3_000
    elder = await scenario.elder_with_coins(client, granted)
    volunteer = await scenario.volunteer(client)
    await scenario.known_volunteer(client, volunteer)
    spot = {"lat": round(random.uniform(39.85, 39.95), 5), "lon": round(random.uniform(116.30, 116.45), 5)}
    responders = [await scenario.responder(client) for _ in range(2)]
    await scenario.until(lambda: _on_duty(client, responders, spot), what="responders on duty")  # learnt from identity
    return Cast(
        officer=await scenario.staff(client, "officer-110105"),
        emergency_120=await scenario.partner(client, "emergency-120"),
        elder=elder,
        volunteer=volunteer,
        caller=await scenario.resident(client, born=1970),
        responders=responders,
        spot=spot,
        granted=granted,
    )


async def _deliver_a_service(client: httpx.AsyncClient, cast: Cast, clock: TestClock) -> tuple[str, int]:
    """One request from publication to paid service; returns its id and the minutes the volunteer was paid."""
    elder, volunteer, place = cast.elder, cast.volunteer, scenario.PLACE
    start = (datetime.now(UTC) + timedelta(seconds=clock.offset, minutes=5)).replace(microsecond=0)
    key = {"Idempotency-Key": uuid.uuid4().hex}
    body = {
        "category": "emotional_comfort",
        "item_id": scenario.CHAT_ITEM,
        "position": place,
        "address": "朝阳区幸福里8号",
        "district": "110105",
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(minutes=SERVICE_MINUTES)).isoformat(),
    }
    published = await _until_answered(
        lambda: client.post("/api/v1/requests", headers=elder.headers | key, json=body), what="publishing"
    )
    request_id = published.json()["id"]

    async def state(headers: dict[str, str] = elder.headers) -> str | None:
        response = await client.get(f"/api/v1/requests/{request_id}", headers=headers)
        return response.json()["state"] if response.status_code == 200 else None

    async def is_(wanted: str, headers: dict[str, str] = elder.headers) -> bool:
        return await state(headers) == wanted

    async def held() -> bool:
        try:
            return await is_("awaiting_review")
        except httpx.TransportError:
            return False

    await scenario.until(held, timeout=PATIENCE_S, what="the ledger's hold")
    await _until_done(
        lambda: client.post(
            f"/api/v1/requests/{request_id}/review",
            headers=cast.officer,
            json={"decision": "approve", "note": "情况属实"},
        ),
        lambda: is_("open"),
        what="approval",
    )
    await _until_done(
        lambda: client.post(f"/api/v1/requests/{request_id}/booking", headers=volunteer.headers),
        lambda: is_("booked"),
        what="booking",
    )
    await _until_done(
        lambda: client.post(
            f"/api/v1/requests/{request_id}/check-in", headers=volunteer.headers, json={"position": place}
        ),
        lambda: is_("in_progress"),
        what="signing in",
    )
    clock.advance(minutes=5 + SERVICE_MINUTES // 2)  # half the service done
    await _until_done(
        lambda: client.post(
            f"/api/v1/requests/{request_id}/check-out", headers=volunteer.headers, json={"position": place}
        ),
        lambda: is_("completed"),
        what="signing out",
    )
    final = await _until_answered(
        lambda: client.get(f"/api/v1/requests/{request_id}", headers=elder.headers), what="reading the request"
    )
    (booking,) = final.json()["bookings"]
    clock.advance(minutes=SERVICE_MINUTES)  # past the booked window: the next booking does not overlap it
    return request_id, booking["minutes"]


async def _on_duty(client: httpx.AsyncClient, responders: list[scenario.Person], spot: dict[str, float]) -> bool:
    """The responders' apps report their positions near `spot` (as they do every few minutes on duty)."""
    for n, person in enumerate(responders):
        place = {"lat": spot["lat"] + 0.001 * (n + 1), "lon": spot["lon"]}
        response = await client.put(
            "/api/v1/responders/me/duty", headers=person.headers, json={"on_duty": True, "position": place}
        )
        if response.status_code != 200:
            return False
    return True


async def _raise_an_sos(client: httpx.AsyncClient, cast: Cast) -> tuple[str, set[str]]:
    """An SOS from start to close by 120; returns the incident and the responders alerted."""

    async def on_duty() -> bool:
        try:
            return await _on_duty(client, cast.responders, cast.spot)
        except httpx.TransportError:
            return False

    await scenario.until(on_duty, timeout=PATIENCE_S, what="responders reporting their positions")
    key = {"Idempotency-Key": uuid.uuid4().hex}
    opened = await _until_answered(
        lambda: client.post(
            "/api/v1/incidents",
            headers=cast.caller.headers | key,
            json={"position": cast.spot, "address": "某小区3号楼2单元门口", "note": "老人倒地，无意识"},
        ),
        what="an SOS",
    )
    incident = opened.json()
    incident_id = incident["id"]

    async def closed() -> bool:
        response = await client.get(f"/api/v1/incidents/{incident_id}", headers=cast.emergency_120)
        return response.status_code == 200 and response.json()["state"] == "closed"

    await _until_done(
        lambda: client.post(
            f"/api/v1/incidents/{incident_id}/close",
            headers=cast.emergency_120,
            json={"status": "transported", "note": "送往医院"},
        ),
        closed,
        what="closing",
    )
    return incident_id, {a["responder_id"] for a in incident["alerts"]}


async def test_kill_9_of_any_process_during_a_burst_loses_nothing_and_doubles_nothing(crash_infra, crash_stack):
    clock = TestClock(crash_stack.clock_file)
    effects = Effects()
    stop = asyncio.Event()
    async with httpx.AsyncClient(base_url=crash_stack.gateway_url, timeout=15) as client:
        cast = await _cast(client)

        async def registering(worker: int) -> None:
            n = 0
            while not stop.is_set():
                effects.registered.add(await _register(client, f"crash-{worker}-{n}-{uuid.uuid4().hex[:6]}"))
                n += 1

        async def serving() -> None:
            while not stop.is_set():
                request_id, minutes = await _deliver_a_service(client, cast, clock)
                effects.served[request_id] = minutes

        async def rescuing() -> None:
            while not stop.is_set():
                incident_id, responders = await _raise_an_sos(client, cast)
                effects.alerted[incident_id] = responders

        workers = [
            asyncio.create_task(w) for w in (*(registering(n) for n in range(REGISTERING)), serving(), rescuing())
        ]
        try:
            for victim in VICTIMS:
                await asyncio.sleep(2)  # some requests in flight and some events not yet consumed
                await asyncio.to_thread(_crash, victim, crash_infra, crash_stack)
            await asyncio.sleep(2)
        finally:
            stop.set()
            await asyncio.gather(*workers)
        assert len(effects.registered) >= 20 and len(effects.served) >= 3 and len(effects.alerted) >= 3, effects
        assert all(effects.alerted.values()), "every SOS alerted someone"

        paid = sum(effects.served.values())

        async def settled() -> tuple[dict, dict] | None:
            volunteer, elder = [
                (await client.get("/api/v1/accounts/me", headers=who.headers)).json()
                for who in (cast.volunteer, cast.elder)
            ]
            return (volunteer, elder) if volunteer["balance"] >= paid else None

        volunteer, elder = await scenario.until(settled, timeout=PATIENCE_S, what="every service settled")
        assert volunteer["balance"] == paid, "each service paid once"
        assert (elder["balance"], elder["held"]) == (cast.granted - paid, 0)

    engines = {name: create_async_engine(crash_stack.database_url[name]) for name in SERVICES}
    try:
        await _each_effect_once(engines, effects, crash_stack.log_dir)
    finally:
        for engine in engines.values():
            await engine.dispose()

    for service, command in (("ledger", "verify"), ("audit", "verify-trail")):
        result = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", service, command],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, **crash_stack.service_env(service)},
        )
        assert result.returncode == 0, result.stdout + result.stderr

    for service in SERVICES:  # the broker kept its log through both kills: nothing was recovered from outboxes
        log = (crash_stack.log_dir / f"{service}.log").read_text(errors="replace")
        assert LOST_LOG not in log and REREAD not in log, f"{service}:\n" + _warnings(crash_stack.log_dir, service)


def _warnings(log_dir, service: str, last: int = 25) -> str:
    """A service's warnings and errors (rewinds, held batches, dead letters), to say why an effect is missing."""
    lines = (log_dir / f"{service}.log").read_text(errors="replace").splitlines()
    return "\n".join([line[:400] for line in lines if '"WARNING"' in line or '"ERROR"' in line][-last:])


async def _each_effect_once(db: dict[str, AsyncEngine], effects: Effects, log_dir) -> None:
    async def rows(service: str, sql: str, **params) -> Sequence[Row]:
        async with db[service].connect() as conn:
            return (await conn.execute(text(sql), params)).all()

    async def until_rows(service: str, sql: str, want: int, **params) -> list:
        found: list = []

        async def enough():
            nonlocal found
            found = await rows(service, sql, **params)
            return found if len(found) >= want else None

        try:
            return await scenario.until(enough, timeout=PATIENCE_S, what=f"{want} rows from {service}")
        except AssertionError:
            raise AssertionError(f"{len(found)} of {want} rows from {service} after {PATIENCE_S} s") from None

    people = sorted(effects.registered)
    try:
        accounts = await until_rows(
            "ledger",
            "SELECT owner_person_id::text, count(*) FROM accounts "
            "WHERE origin = 'earned' AND owner_person_id::text = ANY(:ids) GROUP BY 1",
            len(people),
            ids=people,
        )
    except AssertionError as missing:
        # Say where the missing ones stopped: never published, published but never applied, or applied.
        opened = {
            p
            for (p,) in await rows(
                "ledger",
                "SELECT owner_person_id::text FROM accounts WHERE owner_person_id::text = ANY(:ids)",
                ids=people,
            )
        }
        lost = sorted(effects.registered - opened)
        sent = await rows(
            "identity",
            "SELECT key, event_id::text, published_at IS NOT NULL, attempts FROM outbox "
            "WHERE event_type = 'timebank.identity.person.registered' AND key = ANY(:ids)",
            ids=lost[:20],
        )
        applied = {
            e
            for (e,) in await rows(
                "ledger",
                "SELECT event_id::text FROM processed_events WHERE event_id::text = ANY(:ids)",
                ids=[e for _, e, _, _ in sent],
            )
        }
        raise AssertionError(
            f"{missing}; {len(lost)} without an account, e.g. (person, event, published, attempts, "
            f"applied): {[(*row, row[1] in applied) for row in sent]}; the ledger's warnings and "
            f"errors:\n" + _warnings(log_dir, "ledger")
        ) from None
    assert {p for p, _ in accounts} == effects.registered and {n for _, n in accounts} == {1}, "one account each"

    requests = sorted(effects.served)
    holds = await rows(
        "ledger", "SELECT request_id::text, status, amount FROM holds WHERE request_id::text = ANY(:ids)", ids=requests
    )
    assert {r for r, _, _ in holds} == set(requests) and {s for _, s, _ in holds} == {"settled"}, holds
    payments = await rows(
        "ledger",
        "SELECT reference::text, count(*) FROM transfers WHERE kind = 'payment' "
        "AND reference::text = ANY(:ids) GROUP BY 1",
        ids=requests,
    )
    assert {reference: count for reference, count in payments} == {r: 1 for r in requests}, "one payment per service"

    incidents = sorted(effects.alerted)
    expected = {(i, r) for i, who in effects.alerted.items() for r in who}
    alerts = await rows(
        "aed",
        "SELECT incident_id::text, responder_id::text FROM incident_alerts WHERE incident_id::text = ANY(:ids)",
        ids=incidents,
    )
    assert set(alerts) >= expected and len(alerts) == len(set(alerts))
    messages = await until_rows(
        "identity",
        "SELECT split_part(page, 'id=', 2), person_id::text FROM notifications "
        "WHERE template = 'incident_alert' AND split_part(page, 'id=', 2) = ANY(:ids)",
        len(alerts),
        ids=incidents,
    )
    assert sorted(messages) == sorted(alerts), "one message per alert, none lost"

    # The trail: every event any service committed is in audit's log, once (event ids are unique there).
    committed: set[str] = set()
    for service in SERVICES:
        committed |= {
            e
            for (e,) in await rows(
                service, "SELECT event_id::text FROM outbox WHERE topic = ANY(:topics)", topics=list(TOPICS)
            )
        }
    trail: set[str] = set()

    async def trail_complete():
        nonlocal trail
        trail = {
            e
            for (e,) in await rows(
                "audit", "SELECT event_id::text FROM audit_log WHERE event_id::text = ANY(:ids)", ids=sorted(committed)
            )
        }
        return trail if trail >= committed else None

    try:
        await scenario.until(trail_complete, timeout=PATIENCE_S, what="every committed event in the trail")
    except AssertionError:
        # Say which events the trail lacks and where each stopped: its topic and partition key, when it was
        # committed and published, how often the relay sent it.
        absent = sorted(committed - trail)
        where = []
        for service in SERVICES:
            where += [
                (service, *row)
                for row in await rows(
                    service,
                    "SELECT topic, event_type, key, created_at, published_at, attempts FROM outbox"
                    " WHERE event_id::text = ANY(:ids) ORDER BY created_at",
                    ids=absent,
                )
            ]
        raise AssertionError(
            f"{len(absent)} of {len(committed)} committed events not in the trail after "
            f"{PATIENCE_S} s, e.g. {where[:15]}; audit's warnings and errors:\n" + _warnings(log_dir, "audit")
        ) from None
