"""(a) A consumer killed after applying an event but before committing its offset, and (b) a broker outage
while a person registers: no event lost, none applied twice."""

import asyncio
import uuid

import httpx
import pytest
from sqlalchemy import text

from contracts.identity import PersonRegistered
from contracts.topics import Topic
from ledger.events import handlers
from ledger.settings import LedgerSettings
from servicekit.consumer import EventConsumer
from servicekit.db import Database
from servicekit.migrations import upgrade_to_head


async def _caught_up(consumer: EventConsumer) -> bool:
    kafka = consumer.consumer
    assert kafka is not None  # connected
    assignment = kafka.assignment()
    if not assignment:
        return False
    ends = await kafka.end_offsets(list(assignment))
    positions = {tp: await kafka.position(tp) for tp in assignment}
    return all(positions[tp] >= ends[tp] for tp in assignment)


async def test_consumer_killed_before_offset_commit_applies_each_event_once(infra, stack, gateway, helpers):
    url = infra.create_database("ledger_crash")
    await asyncio.to_thread(upgrade_to_head, LedgerSettings().migrations_path, url)
    settings = LedgerSettings(database_url=url, kafka_bootstrap_servers=infra.kafka_bootstrap_servers)
    db = Database(url, pool_size=2)
    group = f"ledger-crash-{uuid.uuid4().hex[:6]}"

    def ledger_consumer() -> EventConsumer:
        return EventConsumer(
            name=group,
            topics=[Topic.IDENTITY.value],
            db=db,
            settings=settings,
            handlers={PersonRegistered.TYPE: handlers(settings)[PersonRegistered.TYPE][1]},
        )

    person = await helpers.login(gateway)
    count = "SELECT count(*) FROM accounts WHERE owner_person_id = :p AND origin = 'earned'"

    async def accounts(sql=count, **params) -> int:
        async with db.transaction() as session:
            return (await session.execute(text(sql), params or {"p": person["person_id"]})).scalar_one()

    first = ledger_consumer()
    await first._open()
    async with asyncio.timeout(30):
        while await accounts() == 0:
            await first.poll_once(commit=False)  # effects committed, offsets never committed …
    await first._close()  # … and the member dies

    second = ledger_consumer()
    await second._open()
    async with asyncio.timeout(30):
        while not await _caught_up(second):
            await second.poll_once()
    await second._close()
    assert await accounts() == 1
    total = await accounts("SELECT count(*) FROM accounts WHERE origin = 'earned'")
    distinct = await accounts(
        "SELECT count(*) FROM processed_events WHERE event_type = 'timebank.identity.person.registered'"
    )
    assert total == distinct  # every registration opened exactly one account
    await db.dispose()


@pytest.mark.restarts_broker
async def test_registration_during_broker_outage_opens_the_account_once_the_broker_is_back(
    infra, stack, gateway, helpers, sql
):
    if infra.broker is None:
        pytest.skip("needs the embedded broker to stop and start it")
    infra.broker.stop()
    try:
        person = await helpers.login(gateway)  # identity needs only its database to register someone
        pending = "SELECT attempts FROM outbox WHERE key = :p AND published_at IS NULL"
        attempts = await helpers.eventually(lambda: sql["identity"].scalar(pending, p=person["person_id"]), timeout=20)
        assert attempts and attempts >= 1, "the relay should have tried and failed while the broker was down"
        async with httpx.AsyncClient() as client:  # readiness tells the truth while the broker is gone
            not_ready = await helpers.eventually(lambda: _not_ready(client, stack.url("ledger")), timeout=20)
        assert not_ready == {"database": "ok", "broker": "unavailable"}
    finally:
        infra.broker.start()

    async def account():
        response = await gateway.get(
            "/api/v1/accounts/me", headers={"Authorization": f"Bearer {person['access_token']}"}
        )
        return response.json() if response.status_code == 200 else None

    opened = await helpers.eventually(account, timeout=90, interval=0.5)
    assert opened and opened["person_id"] == person["person_id"]
    assert (
        await sql["ledger"].scalar(
            "SELECT count(*) FROM accounts WHERE owner_person_id = :p AND origin = 'earned'", p=person["person_id"]
        )
        == 1
    )
    async with httpx.AsyncClient() as client:  # every service reports ready again
        for name in ("identity", "ledger", "matching", "aed", "audit"):
            ready = await helpers.eventually(lambda name=name: _ready(client, stack.url(name)), timeout=30)
            assert ready, f"{name} did not recover"


async def _ready(client: httpx.AsyncClient, base: str) -> bool:
    return (await client.get(base + "/readyz")).status_code == 200


async def _not_ready(client: httpx.AsyncClient, base: str) -> dict | None:
    response = await client.get(base + "/readyz")
    return response.json()["checks"] if response.status_code == 503 else None
