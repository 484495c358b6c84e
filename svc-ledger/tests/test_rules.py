"""The ledger's rules, each against the real PostgreSQL; the fixture checks every invariant afterwards."""

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text

from ledger.db import kin_links
from ledger.domain import gift_recipients, holds, transfers
from ledger.domain.errors import InsufficientCoins, NotASpecialElder, OutsideDistrict
from ledger.domain.gift_recipients import NotADirectRelative
from servicekit.errors import UnprocessableInput
from servicekit.idempotency import IdempotencyKeyReused

YOUNG = date(2040, 1, 1)


async def test_a_service_is_held_settled_for_the_minutes_served_and_the_rest_released(ledger):
    elder, volunteer = await ledger.person(special=["economic_hardship"]), await ledger.person()
    await ledger.grant(elder, 180)
    request = await ledger.submit(elder, 120)
    assert (await ledger.view(elder)).held == 120
    assert await ledger.complete(request, elder, [(volunteer, 90)])
    assert await ledger.pockets(elder) == {"allocated": 0, "earned": 0, "gifted": 0, "granted": 90}
    assert (await ledger.view(elder)).held == 0
    paid = await ledger.view(volunteer)
    assert (paid.stored_earned, paid.lifetime_earned) == (90, 90)
    # A redelivered completion pays nobody twice.
    assert not await ledger.complete(request, elder, [(volunteer, 90)])
    assert (await ledger.view(volunteer)).balance == 90


async def test_an_over_run_is_paid_up_to_the_hold_and_shared_among_a_group(ledger):
    elder = await ledger.person(special=["advanced_age"])
    first, second = await ledger.person(), await ledger.person()
    await ledger.grant(elder, 600)
    request = await ledger.submit(elder, 100)
    await ledger.complete(request, elder, [(first, 90), (second, 60)])  # 150 served, 100 held
    assert (await ledger.view(first)).balance + (await ledger.view(second)).balance == 100
    assert (await ledger.view(first)).balance == 60  # 90/150 of 100
    assert (await ledger.view(elder)).balance == 500


async def test_cancelling_releases_the_hold_once(ledger):
    elder = await ledger.person(special=["advanced_age"])
    await ledger.grant(elder, 60)
    request = await ledger.submit(elder, 60)
    assert (await ledger.view(elder)).available == 0
    assert await ledger.cancel(request)
    assert not await ledger.cancel(request)
    assert (await ledger.view(elder)).available == 60
    assert await ledger.scalar("SELECT status FROM holds WHERE request_id = :r", r=request) == "voided"


async def test_a_hold_expires_after_its_window_and_grace_and_then_pays_from_what_is_available(ledger):
    elder, volunteer = await ledger.person(special=["advanced_age"]), await ledger.person()
    await ledger.grant(elder, 100)
    ends = datetime(2026, 12, 1, tzinfo=UTC)
    request = await ledger.submit(elder, 80, ends_at=ends)
    assert await holds.expire_due_holds(ledger.db, now=ends + timedelta(minutes=59)) == 0  # grace is 1 h here
    assert await holds.expire_due_holds(ledger.db, now=ends + timedelta(hours=1)) == 1
    assert (await ledger.view(elder)).available == 100
    assert await ledger.scalar("SELECT status FROM holds WHERE request_id = :r", r=request) == "expired"
    # A completion arriving after expiry is paid from what the elder has available, capped there.
    await ledger.grant(elder, 0 + 1)
    assert await ledger.complete(request, elder, [(volunteer, 200)])
    assert (await ledger.view(volunteer)).balance == 101
    assert (await ledger.view(elder)).balance == 0


async def test_an_elder_under_60_cannot_spend_own_earned_coins_on_their_own_request(ledger):
    young = await ledger.person(redemption_age=False)
    await ledger.earn(young, 120)
    request = await ledger.submit(young, 60)
    assert await ledger.scalar("SELECT count(*) FROM holds WHERE request_id = :r", r=request) == 0
    rejected = await ledger.scalar(
        "SELECT payload::jsonb -> 'data' ->> 'reason_code' FROM outbox"
        " WHERE event_type = 'timebank.ledger.hold.rejected' AND key = :r",
        r=str(request),
    )
    assert rejected == "under_60"
    assert (await ledger.view(young)).available == 120


async def test_the_gift_rule_file_alone_decides_which_relations_may_receive(ledger, monkeypatch):
    """The newcomer's test: narrowing `GIFT_RELATIONS` (gift_recipients.py) is the whole change. The recipient's
    relation to the giver counts, whichever of the two the link was recorded from; a link recorded before the
    ledger kept relations still counts."""
    parent, child, grandchild, old_link = [await ledger.person() for _ in range(4)]
    for giver in (parent, child, grandchild):
        await ledger.earn(giver, 120)
    await ledger.relate(parent, child, "child")  # recorded from the parent's end
    await ledger.relate(grandchild, parent, "grandparent")  # recorded from the grandchild's end
    async with ledger.db.transaction() as session:
        await session.execute(
            text("INSERT INTO kin_links (link_id, person_id, relative_id) VALUES (:l, :p, :r)"),
            {"l": uuid.uuid4(), "p": parent, "r": old_link},
        )
    monkeypatch.setattr(gift_recipients, "GIFT_RELATIONS", frozenset({"parent", "grandparent"}))  # only upwards

    await ledger.gift(child, parent, 10)  # to a parent
    await ledger.gift(grandchild, parent, 10)  # to a grandparent, from the end that claimed the link
    with pytest.raises(NotADirectRelative):
        await ledger.gift(parent, child, 10)  # to a child
    with pytest.raises(NotADirectRelative):
        await ledger.gift(parent, grandchild, 10)  # to a grandchild, the link read from its other end
    await ledger.gift(parent, old_link, 10)  # a link of no recorded relation counts as before
    assert (await ledger.view(parent)).available == 120 + 20 - 10


async def test_gifts_go_only_to_confirmed_direct_relatives(ledger):
    giver, stranger = await ledger.person(), await ledger.person()
    await ledger.earn(giver, 120)
    with pytest.raises(NotADirectRelative):
        await ledger.gift(giver, stranger, 60)
    link = await ledger.relate(giver, stranger)
    await ledger.gift(giver, stranger, 60)
    assert await ledger.pockets(stranger) == {"allocated": 0, "earned": 0, "gifted": 60, "granted": 0}
    await ledger.gift(stranger, giver, 30)  # the link works both ways
    async with ledger.db.transaction() as session:
        await kin_links.revoke(session, link, giver, stranger)
    with pytest.raises(NotADirectRelative):
        await ledger.gift(giver, stranger, 10)
    with pytest.raises(NotADirectRelative):
        await ledger.gift(giver, giver, 10)


async def test_granted_coins_and_more_than_available_cannot_be_gifted_or_donated(ledger):
    elder = await ledger.person(special=["economic_hardship"])
    daughter = await ledger.person()
    await ledger.relate(elder, daughter)
    await ledger.grant(elder, 600)
    before = await ledger.pockets(elder)
    with pytest.raises(InsufficientCoins) as refused:
        await ledger.gift(elder, daughter, 60)
    assert "只能用于本人服务" in refused.value.detail_zh
    with pytest.raises(InsufficientCoins):
        await ledger.donate(elder, 60)
    await ledger.earn(daughter, 100)
    with pytest.raises(InsufficientCoins):
        await ledger.gift(daughter, elder, 101)
    assert await ledger.pockets(elder) == before
    assert (await ledger.view(daughter)).balance == 100


async def test_spending_order_keeps_earned_coins_for_last(ledger):
    elder = await ledger.person(special=["advanced_age"])
    son = await ledger.person()
    await ledger.relate(elder, son)
    await ledger.earn(elder, 60)
    await ledger.earn(son, 60)
    await ledger.gift(son, elder, 30)
    await ledger.grant(elder, 20)
    await ledger.submit(elder, 70)  # granted 20, gifted 30, then earned 20
    held = {p.origin: p.held for p in (await ledger.view(elder)).by_origin}
    assert held == {"allocated": 0, "earned": 20, "gifted": 30, "granted": 20}


async def test_grants_only_by_an_officer_of_the_special_elders_district(ledger):
    special = await ledger.person(district="110105", special=["severe_disability"])
    ordinary = await ledger.person(district="110105")
    with pytest.raises(OutsideDistrict) as refused:
        await ledger.grant(special, 60, district="110108")
    assert refused.value.status == 403
    with pytest.raises(NotASpecialElder):
        await ledger.grant(ordinary, 60)
    with pytest.raises(UnprocessableInput):
        async with ledger.db.transaction() as session:
            await transfers.grant(
                session,
                transfers.Caller(actor="o", district="110105"),
                key="k",
                person_id=special,
                amount=61,
                reason="超过上限",
                limit=60,
                now=datetime.now(UTC),
            )
    assert (await ledger.view(special)).balance == 0
    await ledger.grant(special, 60)
    assert await ledger.system_balance("district_issuance", district="110105") == -60


async def test_donations_fund_welfare_allocations_to_special_elders(ledger):
    volunteer, elder = await ledger.person(), await ledger.person(special=["family_planning_special"])
    await ledger.earn(volunteer, 300)
    welfare_before = await ledger.system_balance("welfare")
    await ledger.donate(volunteer, 200)
    await ledger.allocate(elder, 150)
    assert await ledger.pockets(elder) == {"allocated": 150, "earned": 0, "gifted": 0, "granted": 0}
    assert await ledger.system_balance("welfare") == welfare_before + 50
    with pytest.raises(InsufficientCoins):
        await ledger.allocate(elder, welfare_before + 51)


async def test_a_replay_returns_the_first_result_and_another_body_is_a_conflict(ledger):
    volunteer = await ledger.person()
    await ledger.earn(volunteer, 300)
    first = await ledger.donate(volunteer, 100, key="donate-1")
    again = await ledger.donate(volunteer, 100, key="donate-1")
    assert again.replayed and again.result == first.result
    with pytest.raises(IdempotencyKeyReused):
        await ledger.donate(volunteer, 99, key="donate-1")
    assert (await ledger.view(volunteer)).balance == 200


async def test_confirmed_false_records_are_reversed_and_what_is_gone_is_owed(ledger):
    elder = await ledger.person(special=["advanced_age"])
    cheat, honest = await ledger.person(), await ledger.person()
    await ledger.grant(elder, 300)
    request = await ledger.submit(elder, 120)
    await ledger.complete(request, elder, [(cheat, 60), (honest, 60)])
    await ledger.donate(cheat, 20)  # spent part of it already
    sanction = uuid.uuid4()
    assert await ledger.sanction(cheat, [request], sanction) == 1
    assert await ledger.sanction(cheat, [request], sanction) == 0  # redelivered: nothing twice
    cheat_view = await ledger.view(cheat)
    assert (cheat_view.balance, cheat_view.clawback_due, cheat_view.lifetime_earned) == (0, 20, 0)
    assert (await ledger.view(honest)).balance == 60
    assert await ledger.pockets(elder) == {"allocated": 0, "earned": 0, "gifted": 0, "granted": 300 - 120 + 40}


async def test_the_nursing_home_milestone_is_published_once(ledger):
    volunteer = await ledger.person()
    await ledger.earn(volunteer, 600_000 - 60)
    assert (await ledger.view(volunteer)).milestones[0]["reached_at"] is None
    await ledger.earn(volunteer, 60)
    await ledger.earn(volunteer, 60)
    assert (await ledger.view(volunteer)).milestones[0]["reached_at"] is not None
    assert (
        await ledger.scalar(
            "SELECT count(*) FROM outbox WHERE event_type = 'timebank.ledger.milestone.reached' AND key = :p",
            p=str(volunteer),
        )
        == 1
    )


async def test_a_batch_of_completions_settles_each_request_once(ledger):
    from contracts.matching import ServiceCompleted, ServiceParticipant
    from ledger.domain import settlement

    elder = await ledger.person(special=["advanced_age"])
    first, second = await ledger.person(), await ledger.person()
    await ledger.grant(elder, 1000)
    already = await ledger.submit(elder, 60)
    fresh = await ledger.submit(elder, 60)
    own = await ledger.submit(elder, 60)
    await ledger.complete(already, elder, [(first, 60)])

    def done(request, volunteer, minutes):
        return ServiceCompleted(
            request_id=request,
            elder_id=elder,
            district="110105",
            completed_at=datetime.now(UTC),
            participants=[ServiceParticipant(volunteer_id=volunteer, minutes=minutes)],
        )

    batch = [done(already, first, 60), done(fresh, first, 30), done(fresh, second, 60), done(own, elder, 60)]
    async with ledger.db.transaction() as session:
        assert await settlement.settle_services(session, batch, now=datetime.now(UTC)) == 2
    assert (await ledger.view(first)).balance == 90  # 60 before, then 30: the first completion of `fresh` wins
    assert (await ledger.view(second)).balance == 0
    assert (await ledger.view(elder)).balance == 1000 - 90  # serving oneself pays nothing; the hold is released
    assert (await ledger.view(elder)).held == 0


async def test_a_batch_of_submissions_holds_in_arrival_order_each_request_once(ledger):
    from contracts.matching import RequestSubmitted

    elder, young, other = (
        await ledger.person(special=["advanced_age"]),
        await ledger.person(redemption_age=False),
        await ledger.person(special=["advanced_age"]),
    )
    await ledger.grant(elder, 100)
    await ledger.grant(other, 60)
    already = await ledger.submit(other, 30)

    def submitted(request_id, who, minutes):
        ends = datetime.now(UTC) + timedelta(days=1)
        return RequestSubmitted(
            request_id=request_id,
            elder_id=who,
            district="110105",
            category="情感慰藉",
            estimated_minutes=minutes,
            starts_at=ends - timedelta(minutes=minutes),
            ends_at=ends,
            submitted_by=str(who),
            submitted_at=datetime.now(UTC),
        )

    first, second, third, broke = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    batch = [
        submitted(first, elder, 60),
        submitted(already, other, 30),
        submitted(second, elder, 30),
        submitted(first, elder, 90),
        submitted(third, elder, 20),
        submitted(broke, young, 10),
        submitted(uuid.uuid4(), other, 30),
    ]
    async with ledger.db.transaction() as session:
        placed = await holds.place_holds(session, batch, now=datetime.now(UTC), grace=timedelta(hours=1))
    # first (60, its repeat ignored) and second (30) fit in 100; third (20) no longer does; `already` was held
    # before; the young person has nothing; the other elder's fresh 30 fits beside the earlier 30.
    assert placed == 3
    assert (await ledger.view(elder)).held == 90
    assert (await ledger.view(other)).held == 60
    assert (
        await ledger.scalar("SELECT count(*) FROM holds WHERE request_id = ANY(:r)", r=[first, second, third, broke])
        == 2
    )
    reasons = await ledger.scalar(
        "SELECT array_agg(payload::jsonb -> 'data' ->> 'reason_code' ORDER BY id) FROM outbox"
        " WHERE event_type = 'timebank.ledger.hold.rejected'"
    )
    assert reasons == ["insufficient_coins", "insufficient_coins"]


async def test_gifts_arriving_together_share_a_transaction_each_with_its_own_outcome(ledger):
    """The desk (what the HTTP API uses): a burst of gifts — fine ones, one to a stranger, one beyond the
    balance, a retry of an earlier key and a key reused for another body — each gets its own answer, the
    refused ones leave nothing behind, and the burst needs far fewer transactions than gifts."""
    from types import SimpleNamespace

    from ledger.desk import GiftDesk

    givers = [await ledger.person() for _ in range(8)]
    relatives = [await ledger.person() for _ in range(8)]
    stranger = await ledger.person()
    for giver, relative in zip(givers, relatives, strict=True):
        await ledger.relate(giver, relative)
        await ledger.earn(giver, 100)
    desk = GiftDesk()
    loop = asyncio.create_task(desk.run(SimpleNamespace(db=ledger.db)))
    await asyncio.sleep(0)

    def command(giver, to, amount, key):
        return transfers.GiftCommand(transfers.Caller(actor=str(giver), person_id=giver), key, to, amount)

    async def attempt(cmd):
        try:
            return await desk.gift(cmd)
        except Exception as exc:
            return exc

    try:
        burst = [command(g, r, 30, f"k{i}") for i, (g, r) in enumerate(zip(givers, relatives, strict=True))]
        burst += [
            command(givers[0], stranger, 10, "s"),
            command(givers[1], relatives[1], 500, "big"),
            command(givers[2], relatives[2], 30, "k2"),
            command(givers[3], relatives[3], 31, "k3"),
        ]
        outcomes = await asyncio.gather(*(attempt(c) for c in burst))
    finally:
        loop.cancel()
    assert all(isinstance(o, transfers.Outcome) and not o.replayed for o in outcomes[:8])
    assert isinstance(outcomes[8], NotADirectRelative) and isinstance(outcomes[9], InsufficientCoins)
    assert outcomes[10].replayed and outcomes[10].result == outcomes[2].result
    assert isinstance(outcomes[11], IdempotencyKeyReused)
    assert [(await ledger.view(r)).balance for r in relatives] == [30] * 8
    assert [(await ledger.view(g)).balance for g in givers] == [70] * 8
    assert await ledger.scalar("SELECT count(*) FROM operations WHERE idempotency_key IN ('s', 'big')") == 0
    assert desk.batches < len(burst) / 2


async def test_a_gift_batch_that_meets_a_deadlock_is_retried_whole(ledger, monkeypatch):
    """PostgreSQL's own deadlock error (SQLSTATE 40P01, raised for real inside the batch's transaction) on the
    first two tries: the desk retries, the gifts go through once, and nobody sees the conflict."""
    from types import SimpleNamespace

    from sqlalchemy import text

    from ledger.desk import GiftDesk

    giver, relative = await ledger.person(), await ledger.person()
    await ledger.relate(giver, relative)
    await ledger.earn(giver, 100)
    conflicts = {"left": 2}
    real = transfers.gift_many

    async def contended(session, commands, *, now):
        outcomes = await real(session, commands, now=now)
        if conflicts["left"]:
            conflicts["left"] -= 1
            await session.execute(
                text("DO $$ BEGIN RAISE EXCEPTION 'deadlock detected' USING ERRCODE = 'deadlock_detected'; END $$")
            )
        return outcomes

    monkeypatch.setattr(transfers, "gift_many", contended)
    desk = GiftDesk()
    loop = asyncio.create_task(desk.run(SimpleNamespace(db=ledger.db)))
    try:
        caller = transfers.Caller(actor=str(giver), person_id=giver)
        outcomes = await asyncio.gather(
            *(desk.gift(transfers.GiftCommand(caller, f"d{i}", relative, 10)) for i in range(3))
        )
    finally:
        loop.cancel()
    assert conflicts["left"] == 0 and all(not o.replayed for o in outcomes)
    assert (await ledger.view(relative)).balance == 30 and (await ledger.view(giver)).balance == 70
    assert await ledger.scalar("SELECT count(*) FROM operations WHERE kind = 'gift'") == 3


async def test_the_offices_see_the_milestone_list_and_what_their_district_granted(ledger):
    from ledger.domain import overview
    from servicekit.auth import Principal
    from servicekit.pagination import PageRequest

    volunteer = await ledger.person(district="110106")
    await ledger.earn(volunteer, 600_000)
    elder = await ledger.person(district="110106", special=["advanced_age"])
    await ledger.grant(elder, 300, district="110106")
    admin = Principal(id="admin", kind="staff", roles=frozenset({"city_admin"}))
    fengtai = Principal(id="officer", kind="staff", roles=frozenset({"district_officer"}), district="110106")
    chaoyang = Principal(id="officer-2", kind="staff", roles=frozenset({"district_officer"}), district="110105")
    async with ledger.db.transaction() as session:
        everyone, _ = await overview.milestones(session, admin, None, PageRequest(None, 100))
        theirs, _ = await overview.milestones(session, fengtai, None, PageRequest(None, 100))
        others, _ = await overview.milestones(session, chaoyang, None, PageRequest(None, 100))
        issued = await overview.issuance(session, fengtai, None)
        city = await overview.issuance(session, admin, None)
    assert volunteer in [r["person_id"] for r in everyone] and volunteer in [r["person_id"] for r in theirs]
    assert volunteer not in [r["person_id"] for r in others]
    assert list(issued.by_district) == ["110106"] and issued.by_district["110106"] >= 300
    assert issued.welfare_balance is None and city.welfare_balance is not None
