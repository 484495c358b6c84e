"""Person-initiated and district-initiated transfers: gifts, donations, grants, welfare allocations.

Every one is an idempotent operation (operations.begin/finish): the caller's key, a replay returning
the first result, the same key with another body refused.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.ledger import CoinsDonated, CoinsGifted, CoinsGranted, WelfareAllocated
from contracts.topics import Topic
from ledger.db import holders, repository
from ledger.db.repository import ORIGINS
from ledger.domain import gift_recipients, operations
from ledger.domain.book import TRANSFERABLE_ORDER, Book, LockedAccount, available_in, draw
from ledger.domain.errors import InsufficientCoins, NotASpecialElder, OutsideDistrict
from ledger.domain.publish import publish
from servicekit.errors import Problem, UnprocessableInput
from servicekit.events import build_event, record_events
from servicekit.idempotency import IdempotencyKeyReused
from servicekit.ids import new_id


@dataclass(frozen=True)
class Caller:
    """Who asks: `actor` is the signed-in principal (an operator when acting for someone)."""

    actor: str
    person_id: uuid.UUID | None = None  # the person whose coins move (gifts, donations)
    district: str | None = None  # a district officer's district
    acting_for: str | None = None

    @property
    def payer(self) -> uuid.UUID:
        """The person whose coins move: gifts and donations are only ever asked for by (or for) a person."""
        assert self.person_id is not None, "a gift or donation needs the person whose coins move"
        return self.person_id


@dataclass(frozen=True)
class Outcome:
    result: dict[str, Any]
    replayed: bool


def _transferable(pockets: dict[str, LockedAccount], amount: int) -> list[tuple[LockedAccount, int]]:
    try:
        return draw(pockets, TRANSFERABLE_ORDER, amount)
    except InsufficientCoins:
        movable = available_in(pockets, TRANSFERABLE_ORDER)
        if available_in(pockets, ORIGINS) >= amount:
            raise InsufficientCoins(
                f"可转出的时间币只有{movable}分钟：政府赠予和公益分配的时间币只能用于本人服务，不能转赠或捐出",
                f"Only {movable} minutes can move: granted and welfare-allocated coins pay only for the holder's"
                " own services",
                transferable=movable,
            ) from None
        raise InsufficientCoins(
            f"可用余额只有{movable}分钟", f"Only {movable} minutes are available", transferable=movable
        ) from None


@dataclass(frozen=True)
class GiftCommand:
    caller: Caller
    key: str
    to_person_id: uuid.UUID
    amount: int


async def gift(
    session: AsyncSession, caller: Caller, *, key: str, to_person_id: uuid.UUID, amount: int, now: datetime
) -> Outcome:
    [outcome] = await gift_many(session, [GiftCommand(caller, key, to_person_id, amount)], now=now)
    if isinstance(outcome, Problem):
        raise outcome
    return outcome


async def gift_many(session: AsyncSession, commands: list[GiftCommand], *, now: datetime) -> list[Outcome | Problem]:
    """Gifts in one transaction with a fixed number of statements, each with its own outcome: done, a replay
    of the first result of its key, or refused (and then it leaves nothing behind). In the order given, so a
    sender's later gift sees what the earlier ones took. Keys (per caller) must be distinct within the call."""
    assert len({(c.caller.actor, c.key) for c in commands}) == len(commands), "one command per key per call"
    started: list[operations.NewOperation] = []
    for c in commands:
        operation_id = new_id()
        body = {"from": c.caller.payer, "to": c.to_person_id, "amount": c.amount}
        result = _result(
            operation_id=operation_id,
            kind="gift",
            from_person_id=c.caller.payer,
            to_person_id=c.to_person_id,
            amount=c.amount,
        )
        started.append(
            operations.command(
                actor=c.caller.actor, key=c.key, kind="gift", body=body, result=result, operation_id=operation_id
            )
        )
    outcomes = [_answered_at_once(begun) for begun in await operations.begin_all(session, started)]
    fresh = [i for i, outcome in enumerate(outcomes) if outcome is None]
    if not fresh:
        return _filled(outcomes)
    allowed = await gift_recipients.allowed(
        session, [(commands[i].caller.payer, commands[i].to_person_id) for i in fresh]
    )
    book = Book(session, new_id())
    people = sorted({p for i in fresh for p in (commands[i].caller.payer, commands[i].to_person_id)})
    await book.lock(persons=people)
    unopened = sorted(
        {commands[i].to_person_id for i in fresh if book.pocket(commands[i].to_person_id, "gifted") is None}
    )
    if unopened:  # a recipient's account opens from an event that may not have arrived yet
        await repository.insert_accounts_of(session, unopened)
        await book.lock(persons=unopened)
    events = []
    for i in fresh:
        c = commands[i]
        sender = c.caller.payer
        if (sender, c.to_person_id) not in allowed:
            outcomes[i] = gift_recipients.NotADirectRelative()
            continue
        try:
            parts = _transferable(book.pockets(sender), c.amount)
        except InsufficientCoins as refusal:
            outcomes[i] = refusal
            continue
        book.operation_id = started[i].id
        for pocket, part in parts:
            book.transfer(pocket, book.account(c.to_person_id, "gifted"), part, kind="gift", reference=c.to_person_id)
        events.append(
            build_event(
                source="ledger",
                data=CoinsGifted(
                    operation_id=started[i].id,
                    from_person_id=sender,
                    to_person_id=c.to_person_id,
                    amount=c.amount,
                    gifted_at=now,
                ),
                subject=str(sender),
                actor=c.caller.actor,
                acting_for=c.caller.acting_for,
            )
        )
        outcomes[i] = Outcome(cast(dict[str, Any], started[i].result), replayed=False)
    await operations.abandon(session, [started[i].id for i in fresh if isinstance(outcomes[i], Problem)])
    await book.write()
    await record_events(session, topic=Topic.LEDGER, events=[(e, None) for e in events])
    return _filled(outcomes)


def _answered_at_once(
    begun: operations.Started | operations.Replayed | IdempotencyKeyReused,
) -> Outcome | Problem | None:
    """A replay answers with its key's first result and a reused key is refused, before any coin is looked at;
    a command that started is answered once its gift is decided (None until then)."""
    if isinstance(begun, operations.Replayed):
        return Outcome(begun.result, replayed=True)
    if isinstance(begun, IdempotencyKeyReused):
        return begun
    return None


def _filled(outcomes: list[Outcome | Problem | None]) -> list[Outcome | Problem]:
    """Every command's slot holds its outcome by the time the batch answers."""
    assert all(outcome is not None for outcome in outcomes)
    return cast(list[Outcome | Problem], outcomes)


async def donate(session: AsyncSession, caller: Caller, *, key: str, amount: int, now: datetime) -> Outcome:
    donor, operation_id = caller.payer, new_id()
    result = _result(operation_id=operation_id, kind="donation", person_id=donor, amount=amount)
    started = await operations.begin(
        session,
        operations.command(
            actor=caller.actor,
            key=key,
            kind="donation",
            result=result,
            operation_id=operation_id,
            body={"from": donor, "amount": amount},
        ),
    )
    if isinstance(started, operations.Replayed):
        return Outcome(started.result, replayed=True)
    book = Book(session, operation_id)
    await book.lock(persons=[donor], welfare=True)
    welfare = book.system("welfare")
    for pocket, part in _transferable(book.pockets(donor), amount):
        book.transfer(pocket, welfare, part, kind="donation", reference=donor)
    await book.write()
    await publish(
        session,
        CoinsDonated(operation_id=operation_id, person_id=donor, amount=amount, donated_at=now),
        subject=donor,
        actor=caller.actor,
        acting_for=caller.acting_for,
    )
    return Outcome(result, replayed=False)


async def grant(
    session: AsyncSession,
    caller: Caller,
    *,
    key: str,
    person_id: uuid.UUID,
    amount: int,
    reason: str,
    limit: int,
    now: datetime,
) -> Outcome:
    """Free coins (免费赠予) from the officer's district issuance account to a special elder of it."""
    return await _to_special_elder(
        session, caller, key=key, person_id=person_id, amount=amount, reason=reason, limit=limit, now=now, kind="grant"
    )


async def allocate_welfare(
    session: AsyncSession,
    caller: Caller,
    *,
    key: str,
    person_id: uuid.UUID,
    amount: int,
    reason: str,
    limit: int,
    now: datetime,
) -> Outcome:
    """Coins from the public-welfare account (二次公益) to a special elder of the officer's district."""
    return await _to_special_elder(
        session,
        caller,
        key=key,
        person_id=person_id,
        amount=amount,
        reason=reason,
        limit=limit,
        now=now,
        kind="welfare_allocation",
    )


async def _to_special_elder(
    session: AsyncSession,
    caller: Caller,
    *,
    key: str,
    person_id: uuid.UUID,
    amount: int,
    reason: str,
    limit: int,
    now: datetime,
    kind: str,
) -> Outcome:
    operation_id = new_id()
    result = _result(
        operation_id=operation_id,
        kind=kind,
        district=caller.district,
        person_id=person_id,
        amount=amount,
        reason=reason,
    )
    started = await operations.begin(
        session,
        operations.command(
            actor=caller.actor,
            key=key,
            kind=kind,
            result=result,
            operation_id=operation_id,
            body={"person": person_id, "amount": amount, "reason": reason},
        ),
    )
    if isinstance(started, operations.Replayed):
        return Outcome(started.result, replayed=True)
    if amount > limit:
        raise UnprocessableInput(f"单笔不得超过{limit}分钟", f"At most {limit} minutes at a time", limit=limit)
    facts = await holders.facts(session, person_id)
    if facts is None or not facts.special_categories:
        raise NotASpecialElder()
    if caller.district is None or not facts.is_special_elder_of(caller.district):
        raise OutsideDistrict()
    await repository.insert_person_accounts(session, person_id)
    book = Book(session, operation_id)
    district = caller.district
    if kind == "grant":
        await book.lock(persons=[person_id], districts=[district])
        event: type[CoinsGranted | WelfareAllocated]
        source, pocket, event = book.system("district_issuance", district=district), "granted", CoinsGranted
        at = {"granted_by": caller.actor, "granted_at": now}
    else:
        await book.lock(persons=[person_id], welfare=True)
        source, pocket, event = book.system("welfare"), "allocated", WelfareAllocated
        at = {"allocated_by": caller.actor, "allocated_at": now}
        if source.available < amount:
            raise InsufficientCoins(
                f"公益账户可用余额只有{source.available}分钟",
                f"The welfare account holds only {source.available} minutes",
            )
    book.transfer(source, book.account(person_id, pocket), amount, kind=kind, reference=person_id)
    await book.write()
    await publish(
        session,
        event(operation_id=operation_id, district=district, person_id=person_id, amount=amount, reason=reason, **at),
        subject=person_id,
        actor=caller.actor,
    )
    return Outcome(result, replayed=False)


def _result(**fields: Any) -> dict[str, Any]:
    """What the caller gets back, now and on every replay (JSON-ready)."""
    return {k: str(v) if isinstance(v, uuid.UUID) else v for k, v in fields.items()}
