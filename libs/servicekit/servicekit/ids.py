"""Ids for rows and events (time-ordered, UUID version 7) and for requests and traces (random, version 4).

A row's or an event's id is a primary key or a unique key in a table that only grows: transfers, entries,
operations, the outbox, `processed_events`, the audit trail. Random keys land on a random leaf of the index
each, so every insert reads and dirties another page (and after each checkpoint logs it whole); keys that
start with their creation time land on the index's newest leaves. For 1,000 events a poll, the consumer's
`processed_events` insert took 6.5–7.2 ms with random ids and 4.6–4.8 ms with these (ADR 21). An id still
has 74 random bits, so it is no easier to guess; what it adds is the millisecond it was made, which every
such row or event carries anyway.

Request, trace and span ids stay random: W3C Trace Context takes the span id from the first bits, and those
would be the timestamp.

Both draw from one buffer of the operating system's randomness: `uuid.uuid4()` makes a `getrandom` system
call per id, which was 14 % of the ledger's settlement CPU (py-spy). One call fills 256. A forked child
refills before its first id, so parent and child never hand out the same bytes.
"""

from __future__ import annotations

import os
import time
import uuid

_IDS_PER_FILL = 256
_VARIANT = 0x8000 << 48  # RFC 9562's variant bits, 10
_RANDOM_V4 = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)  # all but the version and variant bits
_VERSION_4 = (4 << 76) | _VARIANT
_RANDOM_V7 = ((0x0FFF) << 64) | ((1 << 62) - 1)  # rand_a (12 bits) and rand_b (62 bits)
_VERSION_7 = (7 << 76) | _VARIANT
_ready: list[int] = []  # list.pop is atomic: threads (asyncio.to_thread) may draw too


def _refill() -> None:
    raw = os.urandom(16 * _IDS_PER_FILL)
    _ready.extend(int.from_bytes(raw[i : i + 16], "big") for i in range(0, len(raw), 16))


os.register_at_fork(after_in_child=_ready.clear)


def _random_bits() -> int:
    try:
        return _ready.pop()
    except IndexError:
        _refill()
        return _ready.pop()


def _uuid(value: int) -> uuid.UUID:
    made = object.__new__(uuid.UUID)
    object.__setattr__(made, "int", value)  # uuid.UUID is immutable; this is how its own __init__ sets it
    object.__setattr__(made, "is_safe", uuid.SafeUUID.unknown)
    return made


def new_id() -> uuid.UUID:
    """A new row's or event's id (UUID version 7): the Unix time in milliseconds, then 74 random bits."""
    return _uuid((time.time_ns() // 1_000_000) << 80 | _VERSION_7 | (_random_bits() & _RANDOM_V7))


def random_id() -> uuid.UUID:
    """A random UUID (version 4), as `uuid.uuid4()` makes: for ids whose every bit must be random."""
    return _uuid((_random_bits() & _RANDOM_V4) | _VERSION_4)
