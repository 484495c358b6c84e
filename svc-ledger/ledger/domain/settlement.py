"""Paying for a completed service, and reversing payments that audit found false.

Settlement (DESIGN.md §4 step 6): the hold is posted for the minutes served, capped at the hold (the
booked window: an over-run beyond it is not paid in coins and is reported as `unpaid_overrun`); the rest
is released. Each volunteer's share goes from escrow to their earned account. If the hold had already
expired or been voided, the minutes are drawn directly from what the elder has available, again capped.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.audit import SanctionApplied
from contracts.ledger import NursingHomeMilestoneReached, Payment, ServiceSettled, SettlementReversed
from contracts.matching import ServiceCompleted
from ledger.db import holders, repository
from ledger.domain import operations
from ledger.domain.book import OWN_SERVICE_ORDER, Book, available_in, draw, escrow_shard
from ledger.domain.holds import spendable_origins
from ledger.domain.publish import publish, publish_many
from servicekit.ids import new_id

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
    return await settle_services(session, [service], now=now) == 1


async def settle_services(session: AsyncSession, services: list[ServiceCompleted], *, now: datetime) -> int:
    """Settle many completed services in one transaction with a fixed number of statements (the consumer
    hands over a whole poll). At most once per request; returns how many were settled now."""
    services, started = await operations.begin_once_per_request(session, services, kind="settlement", prefix="settle")
    if not services:
        return 0
    # Nobody is paid for serving themself: that would turn restricted coins into earned ones.
    participants = {s.request_id: [p for p in s.participants if p.volunteer_id != s.elder_id] for s in services}
    volunteers = sorted({p.volunteer_id for ps in participants.values() for p in ps})
    await repository.insert_accounts_of(session, volunteers)
    await holders.ensure_holders(session, volunteers)
    request_ids = [s.request_id for s in services]
    holds = await repository.lock_holds(session, request_ids)
    legs = await repository.unresolved_legs(session, request_ids, order=OWN_SERVICE_ORDER)
    without_hold = [s.elder_id for s in services if getattr(holds.get(s.request_id), "status", None) != "pending"]
    facts = await holders.facts_of(session, without_hold) if without_hold else {}
    book = Book(session, new_id())
    await book.lock(
        persons=[*{s.elder_id for s in services}, *volunteers], shards=sorted({escrow_shard(r) for r in request_ids})
    )

    settled: list[ServiceSettled] = []
    for service in services:
        book.operation_id = started[service.request_id]
        settled.append(
            _settle_one(
                book,
                service,
                participants[service.request_id],
                holds.get(service.request_id),
                legs.get(service.request_id, []),
                facts.get(service.elder_id),
                now,
            )
        )
    await book.write()
    await repository.resolve_holds(session, [h.id for h in holds.values() if h.status == "pending"], "settled")
    earnings: dict[uuid.UUID, int] = {}
    for event in settled:
        for payment in event.payments:
            earnings[payment.volunteer_id] = earnings.get(payment.volunteer_id, 0) + payment.amount
    if earnings:
        await holders.credit_earnings(session, earnings)
        rich = [p for p in earnings if book.account(p, "earned").balance >= MILESTONE_MINUTES]
        milestones = [
            NursingHomeMilestoneReached(person_id=p, earned_balance=book.account(p, "earned").balance, reached_at=now)
            for p in (await holders.mark_milestone(session, rich, now) if rich else [])
        ]
    else:
        milestones = []
    await publish_many(session, [(e, e.request_id) for e in settled] + [(m, m.person_id) for m in milestones])
    await operations.finish_many(
        session, {started[e.request_id]: {"paid": sum(p.amount for p in e.payments)} for e in settled}
    )
    return len(settled)


def _settle_one(
    book: Book, service: ServiceCompleted, participants: list, hold, legs: list, facts, now: datetime
) -> ServiceSettled:
    """Stage one settlement in the book: post the hold (or draw directly), pay each participant."""
    shard = escrow_shard(service.request_id)
    escrow = book.system("escrow", shard=shard)
    owed = sum(p.minutes for p in participants)
    if hold is not None and hold.status == "pending":
        collected = 0
        for leg in legs:
            part = min(leg.amount, owed - collected)
            if part > 0:
                book.post(leg, part, reference=service.request_id)
                collected += part
            else:
                book.release(leg, code="void", reference=service.request_id)
        released = hold.amount - collected
    else:
        order = spendable_origins(facts.redemption_age if facts else False)
        pockets = book.pockets(service.elder_id)
        collected = min(owed, available_in(pockets, order))
        for pocket, part in draw(pockets, order, collected) if collected else []:
            book.transfer(pocket, escrow, part, kind="settlement", reference=service.request_id)
        released = 0
    payments = []
    for participant, amount in zip(participants, split(collected, [p.minutes for p in participants]), strict=True):
        if amount:
            book.transfer(
                escrow,
                book.account(participant.volunteer_id, "earned"),
                amount,
                kind="payment",
                reference=service.request_id,
            )
            payments.append(Payment(volunteer_id=participant.volunteer_id, amount=amount))
    return ServiceSettled(
        request_id=service.request_id,
        hold_id=hold.id if hold else uuid.UUID(int=0),
        elder_id=service.elder_id,
        payments=payments,
        unpaid_overrun=owed - collected,
        released=released,
        settled_at=now,
    )


async def reverse_false_records(session: AsyncSession, sanction: SanctionApplied, *, now: datetime) -> int:
    """Give the elder back the coins paid for services audit confirmed false. A volunteer who no longer
    holds them gives back what they have; the rest is recorded as owed (`clawback_due`). Each payment is
    reversed at most once, whichever sanction names it first."""
    reversed_count = 0
    for request_id in sanction.false_request_ids:
        applied = await operations.begin(
            session,
            operations.command(
                actor="audit",
                key=f"sanction:{sanction.sanction_id}:{request_id}",
                kind="sanction",
                body={"request_id": request_id},
            ),
        )
        if isinstance(applied, operations.Replayed):
            continue  # this sanction was applied to this record already (whatever it found then)
        elder_id = await repository.payer_of(session, request_id)
        named = [
            p
            for p in await repository.payments_for(session, request_id)
            if p.outstanding > 0
            and (
                sanction.kind != "volunteer_recording_revoked"
                or sanction.person_id is None
                or p.volunteer_id == sanction.person_id
            )
        ]
        payments = []
        for payment in named:
            started = await operations.begin(
                session,
                operations.command(
                    actor="audit",
                    key=f"reverse:{request_id}:{payment.volunteer_id}",
                    kind="reversal",
                    body={"request_id": request_id},
                ),
            )
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
            earned = book.account(payment.volunteer_id, "earned")
            taken = min(payment.outstanding, max(earned.available, 0))
            if taken:
                book.transfer(earned, escrow, taken, kind="reversal", reference=request_id)
                _refund(book, escrow, elder_id, taken, contributions, request_id)
            outcomes.append((payment, taken))
        await book.write()
        for (payment, taken), (_, operation_id) in zip(outcomes, payments, strict=True):
            shortfall = payment.outstanding - taken
            await holders.record_reversal(
                session, payment.volunteer_id, false_amount=payment.outstanding, shortfall=shortfall
            )
            await publish(
                session,
                SettlementReversed(
                    request_id=request_id,
                    sanction_id=sanction.sanction_id,
                    volunteer_id=payment.volunteer_id,
                    elder_id=elder_id,
                    reversed=taken,
                    shortfall=shortfall,
                    reversed_at=now,
                ),
                subject=request_id,
                actor=sanction.decided_by,
            )
            await operations.finish(session, operation_id, {"reversed": taken, "shortfall": shortfall})
        reversed_count += 1
    return reversed_count


def _refund(
    book: Book, escrow, elder_id: uuid.UUID, amount: int, contributions: dict[str, int], request_id: uuid.UUID
) -> None:
    """Back into the origins the elder paid from, restricted ones first (as they were spent)."""
    for origin in OWN_SERVICE_ORDER:
        part = min(amount, contributions.get(origin, 0))
        if part > 0:
            book.transfer(escrow, book.account(elder_id, origin), part, kind="refund", reference=request_id)
            contributions[origin] -= part
            amount -= part
    if amount:  # cannot happen while payments come out of the elder's contributions; never lose a coin
        book.transfer(escrow, book.account(elder_id, "earned"), amount, kind="refund", reference=request_id)
