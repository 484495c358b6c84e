"""Many operations at once on a few hot accounts (one elder, the welfare account, one district's issuance
account) on the real PostgreSQL: no lost update, no deadlock reaching a caller, exact final balances."""

import asyncio
import uuid


async def test_200_concurrent_operations_on_hot_accounts_lose_nothing(ledger):
    elder = await ledger.person(special=["economic_hardship"])
    relatives = [await ledger.person() for _ in range(10)]
    donors = [await ledger.person() for _ in range(10)]
    for person in relatives:
        await ledger.relate(person, elder)
    for person in relatives + donors:
        await ledger.earn(person, 60)
    await ledger.grant(elder, 200)
    await ledger.donate(donors[0], 50)
    welfare_before = await ledger.system_balance("welfare")
    issuance_before = await ledger.system_balance("district_issuance", district="110105")

    operations = (
        [ledger.grant(elder, 10) for _ in range(50)]
        + [ledger.donate(donors[i % 10], 1) for i in range(50)]
        + [ledger.allocate(elder, 1) for _ in range(50)]
        + [ledger.gift(relatives[i % 10], elder, 2) for i in range(30)]
        + [ledger.submit(elder, 5) for _ in range(20)]
    )
    results = await asyncio.gather(*operations, return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    assert failures == []

    view = await ledger.view(elder)
    pockets = {p.origin: (p.balance, p.held) for p in view.by_origin}
    assert pockets == {"granted": (200 + 500, 100), "allocated": (50, 0), "gifted": (60, 0), "earned": (0, 0)}
    assert await ledger.system_balance("welfare") == welfare_before + 50 - 50
    assert await ledger.system_balance("district_issuance", district="110105") == issuance_before - 500
    assert await ledger.broken() == {}


async def test_concurrent_duplicates_of_one_idempotency_key_make_exactly_one_transfer(ledger):
    donor = await ledger.person()
    await ledger.earn(donor, 100)
    key = f"donation-{uuid.uuid4()}"
    outcomes = await asyncio.gather(*(ledger.donate(donor, 30, key=key) for _ in range(20)))
    assert len({o.result["operation_id"] for o in outcomes}) == 1
    assert sum(not o.replayed for o in outcomes) == 1
    assert (await ledger.view(donor)).balance == 70
    assert (
        await ledger.scalar("SELECT count(*) FROM transfers WHERE kind = 'donation' AND reference = :p", p=donor) == 1
    )
