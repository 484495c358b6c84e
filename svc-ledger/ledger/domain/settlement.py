"""Paying for a completed service, and reversing payments that audit found false.

Settlement (DESIGN.md §4 step 6): the hold is posted for the minutes served, capped at the hold (the
booked window: an over-run beyond it is not paid in coins and is reported as `unpaid_overrun`); the rest
is released. Each volunteer's share goes from escrow to their earned account. If the hold had already
expired or been voided, the minutes are drawn directly from what the elder has available, again capped.
"""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.audit import SanctionApplied
from contracts.ledger import NursingHomeMilestoneReached, Payment, ServiceSettled, SettlementReversed
from contracts.matching import ServiceCompleted
from ledger.db import holders, repository
from ledger.domain import operations
from ledger.domain.book import OWN_SERVICE_ORDER, Book, available_in, draw, escrow_shard
from ledger.domain.clock import beijing_date
from ledger.domain.holds import spendable_origins
from ledger.domain.publish import publish

MILESTONE_MINUTES = 10_000 * 60  # 10,000 stored earned coins: nursing-home eligibility


def split(total: int, shares: list[int]) -> list[int]:
    """Share `total` in proportion to `shares` in whole minutes (largest remainders first)."""
    whole = sum(shares)
    if whole == 0 or total >= whole:
        return list(shares)
    exact = [total * s for s in shares]
    parts = [e // whole for e in exact]
    by_remainder = sorted(range(len(shares)), key=lambda i: (-(exact[i] % whole), i))
    for i in by_remainder[: total - sum(parts)]:
        parts[i] += 1
    return parts


async def settle_service(session: AsyncSession, service: ServiceCompleted, *, now: datetime) -> bool:
    started = await operations.begin(session, actor="matching", key=f"settle:{service.request_id}", kind="settlement",
                                     body={"request_id": service.request_id})
    if isinstance(started, operations.Replayed):
        return False
    # Nobody is paid for serving themself: that would turn restricted coins into earned ones.
    participants = [p for p in service.participants if p.volunteer_id != service.elder_id]
    volunteers = sorted({p.volunteer_id for p in participants})
    for person in volunteers:
        await repository.insert_person_accounts(session, person)
        await holders.ensure_holder(session, person)
    hold = await repository.lock_hold(session, service.request_id)
    shard = escrow_shard(service.request_id)
    book = Book(session, started.operation_id)
    await book.lock(persons=[service.elder_id, *volunteers], shards=[shard])
    escrow = book.system("escrow", shard=shard)
    owed = sum(p.minutes for p in participants)

    if hold is not None and hold.status == "pending":
        collected = 0
        for leg in await repository.unresolved_legs(session, service.request_id):
            part = min(leg.amount, owed - collected)
            if part > 0:
                book.post(leg, part, reference=service.request_id)
                collected += part
            else:
                book.release(leg, code="void", reference=service.request_id)
        await repository.resolve_hold(session, hold.id, "settled")
        released = hold.amount - collected
    else:
        facts = await holders.facts(session, service.elder_id)
        order = spendable_origins(facts.turns_60_on if facts else None, beijing_date(now))
        pockets = book.pockets(service.elder_id)
        collected = min(owed, available_in(pockets, order))
        for pocket, part in (draw(pockets, order, collected) if collected else []):
            book.transfer(pocket, escrow, part, kind="settlement", reference=service.request_id)
        released = 0

    shares = split(collected, [p.minutes for p in participants])
    payments = []
    for participant, amount in zip(participants, shares):
        if amount:
            book.transfer(escrow, book.pocket(participant.volunteer_id, "earned"), amount, kind="payment",
                          reference=service.request_id)
            payments.append(Payment(volunteer_id=participant.volunteer_id, amount=amount))
    await book.write()
    for payment in payments:
        await _credit_lifetime(session, book, payment.volunteer_id, payment.amount, now=now)
    await publish(session, ServiceSettled(
        request_id=service.request_id, hold_id=hold.id if hold else uuid.UUID(int=0), elder_id=service.elder_id,
        payments=payments, unpaid_overrun=owed - collected, released=released, settled_at=now),
        subject=service.request_id)
    await operations.finish(session, started.operation_id, {"collected": collected})
    return True


async def _credit_lifetime(session: AsyncSession, book: Book, person_id: uuid.UUID, amount: int, *, now: datetime) -> None:
    """Count the earnings and publish the nursing-home milestone the first time stored earned coins
    reach 10,000."""
    earned = book.pocket(person_id, "earned")
    await session.execute(text("UPDATE holders SET lifetime_earned = lifetime_earned + :a WHERE person_id = :p"),
                          {"a": amount, "p": person_id})
    reached = earned.balance >= MILESTONE_MINUTES and (await session.execute(text(
        "UPDATE holders SET milestone_reached_at = :now WHERE person_id = :p AND milestone_reached_at IS NULL"
        " RETURNING person_id"), {"now": now, "p": person_id})).first() is not None
    if reached:
        await publish(session, NursingHomeMilestoneReached(person_id=person_id, earned_balance=earned.balance,
                                                           reached_at=now), subject=person_id)


async def reverse_false_records(session: AsyncSession, sanction: SanctionApplied, *, now: datetime) -> int:
    """Give the elder back the coins paid for services audit confirmed false. A volunteer who no longer
    holds them gives back what they have; the rest is recorded as owed (`clawback_due`). Each payment is
    reversed at most once, whichever sanction names it first."""
    reversed_count = 0
    for request_id in sanction.false_request_ids:
        elder_id = await repository.payer_of(session, request_id)
        named = [p for p in await repository.payments_for(session, request_id)
                 if p.outstanding > 0 and (sanction.kind != "volunteer_recording_revoked" or sanction.person_id is None
                                           or p.volunteer_id == sanction.person_id)]
        payments = []
        for payment in named:
            started = await operations.begin(session, actor="audit", key=f"reverse:{request_id}:{payment.volunteer_id}",
                                             kind="reversal", body={"request_id": request_id})
            if isinstance(started, operations.Started):
                payments.append((payment, started.operation_id))
        if elder_id is None or not payments:
            continue
        contributions = await repository.elder_contributions(session, request_id, elder_id)
        shard = escrow_shard(request_id)
        book = Book(session, payments[0][1])
        await book.lock(persons=[elder_id, *(p.volunteer_id for p, _ in payments)], shards=[shard])
        escrow = book.system("escrow", shard=shard)
        outcomes = []
        for payment, _ in payments:
            earned = book.pocket(payment.volunteer_id, "earned")
            taken = min(payment.outstanding, max(earned.available, 0))
            if taken:
                book.transfer(earned, escrow, taken, kind="reversal", reference=request_id)
                _refund(book, escrow, elder_id, taken, contributions, request_id)
            outcomes.append((payment, taken))
        await book.write()
        for (payment, taken), (_, operation_id) in zip(outcomes, payments):
            shortfall = payment.outstanding - taken
            await session.execute(text(
                "UPDATE holders SET lifetime_earned = lifetime_earned - :o, clawback_due = clawback_due + :s"
                " WHERE person_id = :p"), {"o": payment.outstanding, "s": shortfall, "p": payment.volunteer_id})
            await publish(session, SettlementReversed(
                request_id=request_id, sanction_id=sanction.sanction_id, volunteer_id=payment.volunteer_id,
                elder_id=elder_id, reversed=taken, shortfall=shortfall, reversed_at=now),
                subject=request_id, actor=sanction.decided_by)
            await operations.finish(session, operation_id, {"reversed": taken, "shortfall": shortfall})
        reversed_count += 1
    return reversed_count


def _refund(book: Book, escrow, elder_id: uuid.UUID, amount: int, contributions: dict[str, int],
            request_id: uuid.UUID) -> None:
    """Back into the origins the elder paid from, restricted ones first (as they were spent)."""
    for origin in OWN_SERVICE_ORDER:
        part = min(amount, contributions.get(origin, 0))
        if part > 0:
            book.transfer(escrow, book.pocket(elder_id, origin), part, kind="refund", reference=request_id)
            contributions[origin] -= part
            amount -= part
    if amount:  # cannot happen while payments come out of the elder's contributions; never lose a coin
        book.transfer(escrow, book.pocket(elder_id, "earned"), amount, kind="refund", reference=request_id)
