"""The rules follow the trail (ADR 10). The consumer only appends events to the hash chain; a
judge reads the records appended since it last judged — completed services, gifts, residences — records
their facts and judges every new one against everything known, in a transaction of its own that moves the
`judged` cursor with them. So the trail is never held back by the rules, the judge works on one poll while
the consumer appends the next, and a crash anywhere resumes from the cursor: nothing is judged twice or
skipped. The rules depend only on the set of facts (rules.py), so judging one poll or several at once gives
the same alerts.

Service reports, most of the judge's database work, are recorded first by RECORDERS transactions at once,
each with a cursor of its own (`recorded`): on every commit, ahead of the judge, and by the
judge itself (under its lock) when they have not got that far. A judge that stops after they commit finds
them recorded and goes on from there.

A record whose facts cannot be read (a malformed payload — the trail keeps every well-formed envelope) is
listed in `unjudged` with its error and passed over, so it never holds back the records after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import cast

import orjson
from asyncpg.pgproto import pgproto
from sqlalchemy.ext.asyncio import AsyncSession

from audit.db import facts
from audit.domain import alerts, rules
from audit.settings import AuditSettings
from contracts.identity import ResidenceDeclared
from contracts.ledger import CoinsGifted
from servicekit import clock
from servicekit.app import Runtime
from servicekit.db import Database, is_transient

log = logging.getLogger(__name__)

# asyncpg's own UUID: a uuid.UUID (equal to and hashing as one; the database's rows already hold it), parsed
# in C — ten times faster than uuid.UUID.
_uuid = pgproto.UUID


def read_gift(data: dict, event_id: uuid.UUID) -> facts.Gift:
    return facts.Gift(
        operation_id=_uuid(data["operation_id"]),
        from_id=_uuid(data["from_person_id"]),
        to_id=_uuid(data["to_person_id"]),
        amount=data["amount"],
        at=datetime.fromisoformat(data["gifted_at"]),
        event_id=event_id,
    )


@dataclass(slots=True)
class Facts:
    """What the rules judge that is read in Python from the trail (services are read from it in SQL)."""

    gifts: list[facts.Gift]
    residences: list[tuple[uuid.UUID, str]]


# The records whose payloads the judge reads in Python.
READ_IN_PYTHON = [CoinsGifted.TYPE, ResidenceDeclared.TYPE]


async def read_facts(session: AsyncSession, after: int, upto: int) -> Facts:
    return facts_of(await facts.payloads(session, after, upto, READ_IN_PYTHON))


def facts_of(payloads: list) -> Facts:
    """The facts in (event_id, type, payload) rows of the trail."""
    known = Facts([], [])
    for event_id, type_, payload in payloads:
        data = orjson.loads(payload)
        if type_ == CoinsGifted.TYPE:
            known.gifts.append(read_gift(data, event_id))
        else:
            known.residences.append((_uuid(data["person_id"]), data["district"]))
    return known


async def judge(
    session: AsyncSession, after: int, upto: int, settings: AuditSettings, *, known: Facts | None = None
) -> None:
    """Record the facts of the trail's records in (after, upto] (the services are recorded already, by
    `record_services`; the rest read here unless `known`), then judge every new one against everything
    known."""
    known = known if known is not None else await read_facts(session, after, upto)
    findings: list[rules.Finding] = []
    if known.residences:
        await facts.record_districts(session, known.residences)
        await alerts.residences_known(session, known.residences)
    findings += await rules.on_services(session, after, upto, settings.rules, settings.district_thresholds())
    if known.gifts and (new_gifts := await facts.record_gifts(session, known.gifts)):
        findings += await rules.on_gifts(session, new_gifts, settings.rules)
    await alerts.raise_findings(session, findings, escalate_after=settings.rules.escalate_after)


# Service reports — most of the judge's work in PostgreSQL — are recorded by this many transactions at once,
# each taking the reports whose subject (the request: matching keys its events by request) hashes to it, so
# a judge behind uses more than one core of the database: with recording ahead on every commit, the tail
# after the last append fell from 0.24 s to 0.14-0.18 s (bench.audit); three were slower, one no faster.
RECORDERS = 2


async def record_services(db: Database, upto: int) -> None:
    """Record the service reports of the trail's records up to `upto` with RECORDERS transactions at once,
    each from its own cursor on: a recorder that committed is not repeated after a crash."""
    await asyncio.gather(*(_record_part(db, part, upto) for part in range(RECORDERS)))


async def _record_part(db: Database, part: int, upto: int) -> None:
    """One transaction of three round trips (begin; claim the cursor, record and move it, in one statement;
    commit), no savepoint. If recording the range fails, a second transaction records its records one by one."""
    try:
        async with db.transaction(notify=False) as session:
            await facts.claim_and_record_services(session, upto, part=part, parts=RECORDERS)
        return
    except Exception as exc:
        if is_transient(exc):
            raise
        log.warning("recording services failed; recording the records one by one", exc_info=True)
    async with db.transaction(notify=False) as session:
        recorded = await facts.lock_recorded(session, part)
        if recorded < upto:
            await _each_alone(
                session,
                recorded,
                upto,
                lambda seq: facts.record_services(session, seq - 1, seq, part=part, parts=RECORDERS),
            )
            await facts.move_recorded(session, part, upto)


async def _each_alone(session: AsyncSession, after: int, upto: int, work: Callable[[int], Awaitable[None]]) -> None:
    """`work` for each trail record in (after, upto], each in a savepoint of its own; a record it fails on is
    listed in `unjudged` with the error and passed over (a transient error is no record's fault: raised)."""
    for seq in range(after + 1, upto + 1):
        try:
            async with session.begin_nested():
                await work(seq)
        except Exception as exc:
            if is_transient(exc):
                raise
            log.error("trail record not judged", extra={"seq": seq, "error": str(exc)})
            await facts.record_unjudged(session, seq, f"{type(exc).__name__}: {exc}", clock.now())


async def state(session: AsyncSession) -> tuple[int, list[dict]]:
    """How far the rules have judged the trail, and the records they could not read (the first hundred)."""
    return await facts.judging_state(session)


class Judge:
    """Judges the trail up to its committed head. `run` does so whenever a transaction of this service
    commits (the consumer's appends; `wake`) and at least every `idle_s` (records appended by another
    replica or the DLQ replay tool)."""

    def __init__(self, db: Database, settings: AuditSettings) -> None:
        self.db = db
        self.settings = settings
        self._wake = asyncio.Event()
        self._wake_recorders = asyncio.Event()
        self._recorders_exist = False

    async def _record(self, upto: int) -> None:
        """record_services, every recorder's cursor made sure of first (once)."""
        if not self._recorders_exist:
            async with self.db.transaction(notify=False) as session:
                await facts.ensure_recorders(session, RECORDERS)
            self._recorders_exist = True
        await record_services(self.db, upto)

    def wake(self) -> None:
        self._wake.set()
        self._wake_recorders.set()

    async def catch_up(self) -> int:
        """Judge every record committed to the trail and not judged yet (at most `judge_max_records` per
        transaction); returns the sequence number judged through."""
        while True:
            try:
                async with self.db.transaction(notify=False) as session:
                    claimed = await facts.claim_judging(session, self.settings.judge_max_records, READ_IN_PYTHON)
                    upto, head = claimed.upto, claimed.head
                    if upto > claimed.after:
                        if claimed.recorded < upto:  # committed by the recorders, under this lock
                            await self._record(upto)
                        await judge(session, claimed.after, upto, self.settings, known=facts_of(claimed.payloads))
            except Exception as exc:
                if is_transient(exc):  # a deadlock or the like is no record's fault: the next round retries
                    raise
                log.warning("judging a range failed; judging its records one by one", exc_info=True)
                upto, head = await self._one_by_one()
            if upto >= head:
                return upto

    async def record_ahead(self) -> None:
        """Record the services of every record committed to the trail, without judging them: `run` does so
        on every commit, so the judge finds a range's services recorded (or being recorded) when it comes to
        it, instead of recording them before its rules."""
        while True:
            async with self.db.transaction(notify=False) as session:
                head, recorded = await facts.recording_state(session)
            upto = min(head, recorded + self.settings.judge_max_records)
            if upto <= recorded:
                return
            await self._record(upto)

    async def _one_by_one(self) -> tuple[int, int]:
        async with self.db.transaction(notify=False) as session:
            claimed = await facts.claim_judging(session, self.settings.judge_max_records, [])
            if claimed.recorded < claimed.upto:
                await self._record(claimed.upto)
            await _each_alone(
                session, claimed.after, claimed.upto, lambda seq: judge(session, seq - 1, seq, self.settings)
            )
            return claimed.upto, claimed.head

    async def run(self, *, idle_s: float = 1.0) -> None:
        """Judge on every wake-up, or every `idle_s`, with the services recorded ahead alongside."""

        async def every_wake(event: asyncio.Event, work: Callable[[], Awaitable[object]], what: str) -> None:
            while True:
                with contextlib.suppress(TimeoutError):  # woken, or a second passed
                    await asyncio.wait_for(event.wait(), idle_s)
                event.clear()
                try:
                    await work()
                except Exception:  # the database briefly away: the next round retries
                    log.exception(f"{what} failed")
                    await asyncio.sleep(idle_s)

        await asyncio.gather(
            every_wake(self._wake, self.catch_up, "judging"),
            every_wake(self._wake_recorders, self.record_ahead, "recording services"),
        )


async def judging(runtime: Runtime) -> None:
    """The service's background job: a judge woken by every commit of the service's own transactions."""
    judge_ = Judge(runtime.db, cast(AuditSettings, runtime.settings))
    runtime.db.on_commit(judge_.wake)
    await judge_.run()
