"""After a broker lost events it had acknowledged, an operator re-publishes what the outbox still retains:
`python -m <service> outbox-republish --since …`. Consumers drop what they applied, so nothing doubles."""

import asyncio
import os
import re
import subprocess
import sys
from datetime import UTC, datetime

import httpx


async def _duplicates_dropped(stack) -> float:
    async with httpx.AsyncClient() as client:
        metrics = (await client.get(stack.url("ledger") + "/metrics")).text
    found = re.search(r'^consumer_events_duplicate_total\{consumer="ledger"\} (\S+)$', metrics, re.M)
    return float(found.group(1)) if found else 0.0


async def test_republished_events_reach_consumers_again_and_apply_once(stack, gateway, helpers, sql):
    since = datetime.now(UTC)
    person = await helpers.login(gateway)
    count = "SELECT count(*) FROM accounts WHERE owner_person_id = :p AND origin = 'earned'"
    assert await helpers.eventually(lambda: sql["ledger"].scalar(count, p=person["person_id"]), timeout=30) == 1
    published = "SELECT max(published_at) FROM outbox WHERE key = :p"
    first = await sql["identity"].scalar(published, p=person["person_id"])
    dropped_before = await _duplicates_dropped(stack)

    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "identity", "outbox-republish", "--since", since.isoformat()],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **stack.service_env("identity")},
    )
    assert result.returncode == 0, result.stderr
    assert "will be published again" in result.stdout

    async def published_again():
        again = await sql["identity"].scalar(published, p=person["person_id"])
        return again is not None and again > first

    assert await helpers.eventually(published_again, timeout=30)

    async def dropped_again():
        return await _duplicates_dropped(stack) > dropped_before

    assert await helpers.eventually(dropped_again, timeout=30), "the ledger read the re-sent events"
    assert await sql["ledger"].scalar(count, p=person["person_id"]) == 1


def test_republish_wants_a_time_with_its_offset(stack):
    result = subprocess.run(
        [sys.executable, "-m", "ledger", "outbox-republish", "--since", "2026-12-05T10:00:00"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **stack.service_env("ledger")},
    )
    assert result.returncode == 2 and "offset" in result.stderr
