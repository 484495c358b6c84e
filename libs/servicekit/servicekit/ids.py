"""Random (version 4) UUIDs drawn from a buffer of the operating system's randomness.

`uuid.uuid4()` makes a `getrandom` system call per id; a settlement of a thousand services needs some six
thousand ids (transfers, operations, events), and on this shared machine those calls were 14 % of the
ledger's settlement CPU (py-spy). Here one call fills 256 ids. The bytes are the same `os.urandom` bytes,
so the ids are as unpredictable as uuid4's. A forked child refills before its first id, so parent and
child never hand out the same bytes.
"""

from __future__ import annotations

import os
import uuid

_IDS_PER_FILL = 256
_VERSION_4 = (4 << 76) | (0x8000 << 48)  # version nibble and RFC 4122 variant bits
_KEEP = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)
_ready: list[int] = []  # list.pop is atomic: threads (asyncio.to_thread) may draw too


def _refill() -> None:
    raw = os.urandom(16 * _IDS_PER_FILL)
    _ready.extend((int.from_bytes(raw[i : i + 16], "big") & _KEEP) | _VERSION_4 for i in range(0, len(raw), 16))


os.register_at_fork(after_in_child=_ready.clear)


def new_id() -> uuid.UUID:
    """A random UUID (version 4), as `uuid.uuid4()` makes."""
    try:
        value = _ready.pop()
    except IndexError:
        _refill()
        value = _ready.pop()
    made = object.__new__(uuid.UUID)
    object.__setattr__(made, "int", value)  # uuid.UUID is immutable; this is how its own __init__ sets it
    object.__setattr__(made, "is_safe", uuid.SafeUUID.unknown)
    return made
