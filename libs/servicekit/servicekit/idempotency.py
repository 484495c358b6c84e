"""Retries that never duplicate: an `Idempotency-Key` on a create (publishing a request, raising an SOS).

The first request with a key claims it in its own transaction and stores its answer there; a retry with the
same key and the same body gets that answer again (`Idempotent-Replayed: true`), one with another body is
409 — the semantics of the ledger's operations. Two copies arriving together serialise on the key's primary
key: the second waits for the first to commit, then replays it. Keys are per caller, so one caller's key
never reveals another's answer.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import Header
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.errors import Conflict

OptionalIdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=128,
        description="recommended (the mini-program always sends one): a retry with the same key and "
        "body answers the first result; the same key with another body is 409",
    ),
]

_CLAIM = text(
    "INSERT INTO idempotency_keys (caller, key, fingerprint) VALUES (:caller, :key, :fingerprint) "
    "ON CONFLICT DO NOTHING RETURNING 1"
)
_FIRST = text("SELECT fingerprint, status, response FROM idempotency_keys WHERE caller = :caller AND key = :key")
_ANSWER = text(
    "UPDATE idempotency_keys SET status = :status, response = :response WHERE caller = :caller AND key = :key"
)


class IdempotencyKeyReused(Conflict):
    type = "idempotency-key-reused"
    title_zh, title_en = "该幂等键已用于另一笔不同的请求", "This Idempotency-Key was used for a different request"


@dataclass(frozen=True)
class Claim:
    """A key this request holds: `answer` stores the result with the change, in the same transaction."""

    caller: str
    key: str

    async def answer(self, session: AsyncSession, status: int, body: Any) -> None:
        await session.execute(
            _ANSWER,
            {
                "caller": self.caller,
                "key": self.key,
                "status": status,
                "response": orjson.dumps(body, default=str).decode(),
            },
        )


async def claim(session: AsyncSession, *, caller: str, key: str | None, request: Any) -> Claim | JSONResponse | None:
    """None without a key; the first result as a response for a retry; else the claim to answer."""
    if key is None:
        return None
    fingerprint = hashlib.sha256(orjson.dumps(request, option=orjson.OPT_SORT_KEYS, default=str)).digest()
    params = {"caller": caller, "key": key.strip()}
    if (await session.execute(_CLAIM, {**params, "fingerprint": fingerprint})).first() is not None:
        return Claim(caller, params["key"])
    first = (await session.execute(_FIRST, params)).one()
    if first.fingerprint != fingerprint:
        raise IdempotencyKeyReused("同一幂等键只能用于同一请求", "An Idempotency-Key belongs to one request body")
    return JSONResponse(orjson.loads(first.response), status_code=first.status, headers={"Idempotent-Replayed": "true"})
