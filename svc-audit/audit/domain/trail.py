"""The audit trail: every event of every service, appended to a hash chain.

Record n carries hash(n) = SHA-256(hash(n-1) || canonical(header n) || 0x1E || data n), hash(0) = 32 zero
bytes, where the header is the record's fields (sequence number, event id, topic, type, subject, actor,
acting for, event time in UTC, ISO 8601) as JSON with sorted keys and no whitespace, and the data is the
event's payload as the JSON text it came in (`Envelope.data_json`), stored as such (records appended by earlier
versions hold it with sorted keys; verification hashes whatever text is stored, so both verify). Changing,
removing or reordering any record changes every hash after it. Every `checkpoint_every` records the head (seq, hash)
is signed with an HMAC key kept outside the database, so even a consistent rewrite of the whole chain by
someone with database access fails verification against the checkpoints.

Appends serialise on the single `chain_head` row (one lock per consumed batch, not per event).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from audit.db import trail as repo
from audit.envelope import Envelope
from servicekit.pagination import PageRequest, page_of

GENESIS = bytes(32)
_LOCKED_HEAD = "audit.chain_head"  # the head `unseen` locked, kept in the session for the append that follows


def canonical(record: dict) -> bytes:
    """Sorted keys, no whitespace, UTF-8; an aware datetime as ISO 8601 (orjson writes it as `isoformat`
    does, in C: a third of json.dumps's time on the hot path)."""
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS)


async def unseen(session: AsyncSession, events: list[Envelope], *, ask: bool = True) -> list[Envelope]:
    """The events not in the trail yet: the trail keeps every event id, so it is the consumer's de-duplication
    (no second record of them). Takes the chain's lock first, so replicas cannot both append an event.

    Unless `ask`, the trail is not asked and every event is taken for new: the trail's event-id key refuses
    an append that repeats one (`repo.DuplicateEvents`, transient), and the retry asks. Redeliveries are rare
    (a poll applied and not yet acknowledged when the consumer stopped; a relay sending again), so the common
    poll skips a look-up of each of its ids that inserting them into the key repeats anyway (PostgreSQL
    −25 ms per 13.5k events in bench.audit). When it asks, one statement locks and looks up: records another
    replica appended while this one waited for the lock are not seen, and the key refuses them in the same way."""
    if not ask:
        session.info[_LOCKED_HEAD] = await repo.lock_head(session)
        return events
    session.info[_LOCKED_HEAD], known = await repo.lock_head_and_known(session, [e.id for e in events])
    return [e for e in events if e.id not in known]


async def head(session: AsyncSession) -> tuple[int, bytes]:
    """The chain's head (sequence number and hash of the last record), not locked."""
    return await repo.head(session)


def record_hash(prev: bytes, header: dict, payload: str) -> bytes:
    return hashlib.sha256(prev + canonical(header) + b"\x1e" + payload.encode()).digest()


def header(
    seq: int,
    event_id: str,
    topic: str,
    type_: str,
    subject: str,
    actor: str | None,
    acting_for: str | None,
    occurred_at: datetime,
) -> dict:
    return {
        "seq": seq,
        "event_id": str(event_id),
        "topic": topic,
        "type": type_,
        "subject": subject,
        "actor": actor,
        "acting_for": acting_for,
        "occurred_at": occurred_at.astimezone(UTC),
    }


class CheckpointSigner:
    def __init__(self, keys: dict[str, str], active: str) -> None:
        self._keys = {kid: base64.urlsafe_b64decode(key) for kid, key in keys.items()}
        self.active = active

    def sign(self, seq: int, head: bytes, key_id: str | None = None) -> bytes:
        return hmac.new(self._keys[key_id or self.active], f"{seq}:".encode() + head, hashlib.sha256).digest()

    def valid(self, seq: int, head: bytes, signature: bytes, key_id: str) -> bool:
        return key_id in self._keys and hmac.compare_digest(self.sign(seq, head, key_id), signature)


@dataclass(slots=True)
class _Draft:
    start: tuple[int, bytes]  # the head the records were computed to follow
    records: list[dict]


class _Drafts:
    """Drafts kept for their polls' transactions. `take` gives one back only for exactly the events it was
    drafted from: a poll with a redelivered event left out, or an event re-applied alone, gets nothing and
    is computed afresh. Keeps a few (the consumer is one poll ahead)."""

    def __init__(self, *, kept: int = 4) -> None:
        self._kept = kept
        self._by_first: dict[uuid.UUID, tuple[list[uuid.UUID], _Draft]] = {}

    def put(self, events: Sequence[Envelope], draft: _Draft) -> None:
        self._by_first[events[0].id] = ([e.id for e in events], draft)
        while len(self._by_first) > self._kept:
            del self._by_first[next(iter(self._by_first))]

    def take(self, events: Sequence[Envelope]) -> _Draft | None:
        kept = self._by_first.pop(events[0].id, None) if events else None
        return kept[1] if kept is not None and kept[0] == [e.id for e in events] else None


# Drafting yields to the event loop after this many events, so the transaction in flight gets its replies
# from PostgreSQL read (and its next statement sent) without waiting for the whole draft: each of its
# statements waits a slice at most (~1 ms at 50 events; 250 cost bench.audit a tenth of its figure).
_SLICE = 50


async def _in_slices(events: Sequence[Envelope]) -> AsyncIterator[Sequence[Envelope]]:
    for start in range(0, len(events), _SLICE):
        if start:
            await asyncio.sleep(0)
        yield events[start : start + _SLICE]


class Chain:
    """Appends polls of events to the chain. Computing a poll's records (canonical JSON, hashes) is most of the
    trail's work and needs no database, so `draft` does it ahead, while the previous poll's transaction runs,
    assuming the chain will end where the previous poll's records end. `append` locks the head and uses the
    draft only if the head is exactly where the draft starts and the events are exactly the drafted ones;
    otherwise (the first poll, a redelivery, another replica appended meanwhile, a rolled-back poll) it
    computes them there as before. A wrong guess costs time, never a wrong record."""

    def __init__(self, signer: CheckpointSigner, checkpoint_every: int) -> None:
        self.signer = signer
        self.checkpoint_every = checkpoint_every
        self._end: tuple[int, bytes] | None = None  # where the records last drafted or appended end
        self._drafts = _Drafts()
        self.drafts_used = self.drafts_discarded = 0

    async def draft(self, events: list[Envelope], *, head: Callable[[], Awaitable[tuple[int, bytes]]]) -> None:
        """`head` reads the chain's head (no lock) when there is no guess yet: at start, and for a poll drafted
        while the first one is still being appended."""
        if not events:
            return
        if self._end is None:
            self._end = await head()
        start, records = self._end, []
        seq, prev = start
        async for part in _in_slices(events):
            records += _records(part, seq, prev)
            seq, prev = records[-1]["seq"], records[-1]["hash"]
        self._drafts.put(events, _Draft(start, records))
        self._end = (seq, prev)

    async def append(self, session: AsyncSession, events: list[Envelope], *, now: datetime) -> None:
        """Append the events (already de-duplicated by the consumer) in the order given."""
        if not events:
            return
        head = session.info.pop(_LOCKED_HEAD, None) or await repo.lock_head(session)
        draft = self._drafts.take(events)
        if draft is not None and draft.start == head:
            records = draft.records
            self.drafts_used += 1
        else:
            self.drafts_discarded += draft is not None
            records = _records(events, *head)
            self._end = (records[-1]["seq"], records[-1]["hash"])
        for record in records:
            record["recorded_at"] = now
        await repo.insert_records(session, records)
        every = self.checkpoint_every  # the records whose seq is a multiple of it are signed
        signed = [
            (r["seq"], r["hash"], self.signer.sign(r["seq"], r["hash"]))
            for r in records[-records[0]["seq"] % every :: every]
        ]
        await repo.move_head(
            session, records[-1]["seq"], records[-1]["hash"], signed, key_id=self.signer.active, at=now
        )


def _record(seq: int, prev: bytes, event: Envelope) -> dict:
    payload = event.data_json
    topic = f"{event.source}.events"
    digest = record_hash(
        prev,
        header(seq, str(event.id), topic, event.type, event.subject, event.actor, event.actingfor, event.time),
        payload,
    )
    return {
        "seq": seq,
        "event_id": event.id,
        "topic": topic,
        "type": event.type,
        "subject": event.subject,
        "actor": event.actor,
        "acting_for": event.actingfor,
        "occurred_at": event.time,
        "payload": payload,
        "prev_hash": prev,
        "hash": digest,
    }


def _records(events: Sequence[Envelope], seq: int, prev: bytes) -> list[dict]:
    records = []
    for event in events:
        seq += 1
        records.append(record := _record(seq, prev, event))
        prev = record["hash"]
    return records


@dataclass(frozen=True)
class Verification:
    ok: bool
    records: int
    head_seq: int
    head_hash: str
    checkpoints_checked: int
    first_altered_seq: int | None = None
    problem: str | None = None


async def verify(session: AsyncSession, signer: CheckpointSigner, *, chunk: int = 5000) -> Verification:
    """Recompute the chain from the start; name the first record that does not match. The transaction must not
    have read anything yet: the whole check reads one snapshot, else a record appended between reading the head
    and reading the records would look like a rewritten log."""
    await repo.read_one_snapshot(session)
    checkpoints = await repo.checkpoints(session)
    head_seq, head_hash = await repo.head(session)
    expected_seq, prev, checked, after = 1, GENESIS, 0, 0

    def broken(seq: int, problem: str) -> Verification:
        return Verification(False, seq - 1, head_seq, head_hash.hex(), checked, seq, problem)

    while True:
        rows = await repo.records_after(session, after, chunk)
        if not rows:
            break
        for row in rows:
            if row.seq != expected_seq:
                return broken(expected_seq, f"record {expected_seq} is missing")
            if bytes(row.prev_hash) != prev:
                return broken(row.seq, "its link to the previous record does not match")
            digest = record_hash(
                prev,
                header(
                    row.seq,
                    str(row.event_id),
                    row.topic,
                    row.type,
                    row.subject,
                    row.actor,
                    row.acting_for,
                    row.occurred_at,
                ),
                row.payload,
            )
            if digest != bytes(row.hash):
                return broken(row.seq, "its content does not match its hash")
            checkpoint: Any = checkpoints.get(row.seq)
            if checkpoint is not None:
                if not signer.valid(row.seq, bytes(checkpoint.hash), bytes(checkpoint.signature), checkpoint.key_id):
                    return broken(row.seq, "the signed checkpoint at this record is not valid")
                if bytes(checkpoint.hash) != digest:
                    return broken(row.seq, "the chain was rewritten: it differs from the signed checkpoint")
                checked += 1
            prev, expected_seq = digest, expected_seq + 1
        after = rows[-1].seq
    if expected_seq - 1 != head_seq:
        return broken(expected_seq, f"the log ends at {expected_seq - 1} but its head says {head_seq}")
    if prev != head_hash:
        return broken(head_seq, "the head's hash does not match the last record")
    if any(seq > head_seq for seq in checkpoints):
        return broken(head_seq + 1, "records after the head were removed (a checkpoint names them)")
    return Verification(True, head_seq, head_seq, prev.hex(), checked)


LOG = "audit-log"  # the list's name in its cursors


async def records_about(session: AsyncSession, subject: str, page: PageRequest) -> tuple[list[dict], str | None]:
    """The records naming `subject` as subject, actor or person acted for, oldest first: the order things
    happened in, and the chain's."""
    return page_of(LOG, await repo.records_about(session, subject, page), page, at="recorded_at", id="seq")
