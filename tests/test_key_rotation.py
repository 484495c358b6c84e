"""Rotating the personal-data keys (README "Key rotation"), the way an operator does it on a running system:
add the new key and make it active, `reseal-personal-data`, retire the old key — and every person still reads
their name, 居民身份证号, phone and request address in the clear."""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from devstack import scenario
from devstack.people import resident_number
from devstack.pytest_plugin import isolated_stack
from devstack.stack import Stack
from identity.settings import IdentitySettings
from matching.settings import MatchingSettings

SEALING = ("identity", "matching")
RETIRED = "dev-1"
NEW = "2027-01"


@pytest.fixture(scope="module")
def own_stack() -> Iterator[Stack]:
    with isolated_stack("timebank-rotation-") as stack:
        yield stack


def _keys(stack: Stack, keys: dict[str, dict[str, str]], active: str) -> None:
    """Restart identity and matching with these personal-data keys, as an operator's new .env does."""
    for service in SEALING:
        stack.extra_env[f"{service.upper()}_PII_KEYS"] = json.dumps(keys[service])
        stack.extra_env[f"{service.upper()}_PII_ACTIVE_KEY"] = active
        stack.children[service].env = stack.service_env(service)
        stack.restart(service, timeout=90)


def _reseal(stack: Stack, service: str, keys: dict[str, str], active: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        **stack.service_env(service),
        f"{service.upper()}_PII_KEYS": json.dumps(keys),
        f"{service.upper()}_PII_ACTIVE_KEY": active,
    }
    return subprocess.run(
        [sys.executable, "-m", service, "reseal-personal-data"], env=env, capture_output=True, text=True, timeout=120
    )


async def _key_ids(stack: Stack) -> set[str]:
    found: set[str] = set()
    for service, query in (
        ("identity", "SELECT key_id FROM real_names UNION SELECT key_id FROM contact_phones"),
        ("matching", "SELECT address_key FROM requests"),
    ):
        engine = create_async_engine(stack.database_url[service], pool_size=1)
        try:
            async with engine.connect() as conn:
                found |= set((await conn.execute(text(query))).scalars())
        finally:
            await engine.dispose()
    return found


async def test_personal_data_survives_a_key_rotation_and_the_retired_key_leaving(own_stack: Stack):
    stack = own_stack
    # The development keys both services start on (each its own), and a new key for each.
    old = {"identity": IdentitySettings().pii_keys, "matching": MatchingSettings().pii_keys}
    assert all(keys.keys() == {RETIRED} for keys in old.values())
    new = {service: {NEW: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()} for service in SEALING}
    both = {service: old[service] | new[service] for service in SEALING}

    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=15) as client:
        openid = f"rotation-{secrets.token_hex(8)}"
        elder = await scenario.sign_in(client, openid)
        number = resident_number(1950)
        verified = await client.post(
            "/api/v1/me/real-name", headers=elder.headers, json={"name": "李桂兰", "id_number": number}
        )
        assert verified.status_code == 200, verified.text
        residence = {"district": "110105", "permanent_resident": True}
        assert (await client.put("/api/v1/me/residence", headers=elder.headers, json=residence)).status_code == 200
        elder = await scenario.sign_in(client, openid)  # a token that carries the verification
        phone = await scenario.proven_phone(stack, client, elder)
        start = (datetime.now(UTC) + timedelta(hours=30)).replace(microsecond=0)
        published = await client.post(
            "/api/v1/requests",
            headers=elder.headers,
            json={
                "category": "emotional_comfort",
                "item_id": scenario.CHAT_ITEM,
                "position": scenario.PLACE,
                "address": "朝阳区幸福里8号2单元301",
                "district": "110105",
                "starts_at": start.isoformat(),
                "ends_at": (start + timedelta(hours=1)).isoformat(),
            },
        )
        assert published.status_code == 201, published.text
        assert await _key_ids(stack) == {RETIRED}

        # 1. The new key joins and seals what is written from now on; the old one still opens the rest.
        _keys(stack, both, NEW)
        # Resealing without the old key cannot open anything: it says so and changes nothing.
        without_old = _reseal(stack, "identity", new["identity"], NEW)
        assert without_old.returncode == 1 and "not configured" in without_old.stderr, without_old.stderr
        assert await _key_ids(stack) == {RETIRED}

        # 2. Everything is sealed again under the new key.
        for service in SEALING:
            done = _reseal(stack, service, both[service], NEW)
            assert done.returncode == 0, done.stdout + done.stderr
            assert "the other keys may leave the configuration" in done.stdout, done.stdout
        assert await _key_ids(stack) == {NEW}

        # 3. The old key leaves; every value still opens.
        _keys(stack, new, NEW)
        mine = await client.get("/api/v1/me/data/identity", headers=elder.headers)
        assert mine.status_code == 200, mine.text
        assert (mine.json()["name"], mine.json()["id_number"], mine.json()["phone"]) == ("李桂兰", number, phone)
        requests = await client.get("/api/v1/me/data/matching", headers=elder.headers)
        assert requests.status_code == 200, requests.text
        assert [r["address"] for r in requests.json()["requests_published"]] == ["朝阳区幸福里8号2单元301"]

    again = _reseal(stack, "identity", new["identity"], NEW)  # nothing left to do, and it says so
    assert again.returncode == 0 and "0 resealed" in again.stdout, again.stdout
