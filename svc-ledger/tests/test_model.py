"""Hypothesis stateful test: random sequences of every ledger operation — with replays, reused keys and
redelivered events — against a small in-memory model. After every step the real PostgreSQL ledger must
agree with the model to the minute and every invariant must hold; a refused operation changes nothing."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from sqlalchemy import text

from contracts.audit import SanctionApplied
from contracts.matching import RequestSubmitted, ServiceCompleted, ServiceParticipant
from ledger.db import holders, invariants, kin_links
from ledger.domain import accounts, holds, settlement, transfers
from ledger.domain.book import OWN_SERVICE_ORDER, OWN_SERVICE_UNDER_60, TRANSFERABLE_ORDER
from ledger.settings import LedgerSettings
from servicekit.db import Database
from servicekit.errors import Problem
from servicekit.migrations import upgrade_to_head

NOW = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
ENDS = NOW + timedelta(days=1)
GRACE = timedelta(hours=1)
DISTRICT = "110105"
OFFICER = f"officer-{DISTRICT}"
ORIGINS = ("allocated", "earned", "gifted", "granted")


class Refused(Exception):
    """The model refuses what the ledger must refuse."""


@dataclass
class ModelHold:
    elder: int
    legs: list[tuple[str, int]]
    status: str = "pending"
    paid: int = 0  # to the volunteer, net of reversals
    volunteer: int | None = None
    contributions: dict[str, int] = field(default_factory=dict)  # per origin, net of refunds


@dataclass
class Model:
    """People 0 (60+, special), 1 (under 60, special), 2 (a volunteer, relative of 0)."""

    pockets: dict[tuple[int, str], list[int]] = field(default_factory=dict)  # [balance, held]
    welfare: int = 0
    issuance: int = 0
    holds: dict[uuid.UUID, ModelHold] = field(default_factory=dict)
    keys: dict[tuple[str, str], tuple[str, tuple]] = field(default_factory=dict)
    old: tuple[bool, ...] = (True, False, True)
    special: tuple[bool, ...] = (True, True, False)
    relatives: frozenset[frozenset[int]] = frozenset({frozenset({0, 2})})

    def available(self, person: int, origins) -> int:
        return sum(self.pockets[(person, o)][0] - self.pockets[(person, o)][1] for o in origins)

    def draw(self, person: int, order, amount: int) -> list[tuple[str, int]]:
        if self.available(person, order) < amount:
            raise Refused
        parts, remaining = [], amount
        for origin in order:
            pocket = self.pockets[(person, origin)]
            part = min(remaining, pocket[0] - pocket[1])
            if part:
                parts.append((origin, part))
                remaining -= part
        return parts

    def spendable(self, person: int):
        return OWN_SERVICE_ORDER if self.old[person] else OWN_SERVICE_UNDER_60


def run(loop: asyncio.AbstractEventLoop, coroutine):
    return loop.run_until_complete(coroutine)


def test_ledger_agrees_with_its_model_under_random_operations(infra):
    url = infra.create_database("ledger_model")
    upgrade_to_head(LedgerSettings().migrations_path, url)
    loop = asyncio.new_event_loop()
    db = Database(url, pool_size=2)

    async def in_tx(call):
        async with db.transaction() as session:
            return await call(session)

    def execute(call) -> bool:
        """Run a use case in its own transaction; False when the ledger refused it (a 4xx problem)."""
        try:
            run(loop, in_tx(call))
            return True
        except Problem:
            return False

    class LedgerMachine(RuleBasedStateMachine):
        requests = Bundle("requests")

        @initialize()
        def people(self) -> None:
            self.model = Model()
            self.ids = [uuid.uuid4() for _ in range(3)]
            self.sanctions: list[tuple[uuid.UUID, uuid.UUID, int]] = []
            self.officer = f"{OFFICER}-{uuid.uuid4().hex[:8]}"  # keys are per actor; each example starts afresh

            async def setup(session):
                for index, person in enumerate(self.ids):
                    await accounts.open_person_account(session, person)
                    await holders.record_redemption_age(session, person, self.model.old[index])
                    if self.model.special[index]:
                        await holders.record_special_groups(session, person, DISTRICT, ["economic_hardship"])
                await kin_links.record(session, uuid.uuid4(), self.ids[0], self.ids[2], "child")
                return (
                    await session.execute(
                        text(
                            "SELECT sum(balance) FILTER (WHERE kind = 'welfare'),"
                            " sum(balance) FILTER (WHERE kind = 'district_issuance' AND district = :d) FROM accounts"
                        ),
                        {"d": DISTRICT},
                    )
                ).one()

            self.welfare_base, self.issuance_base = run(loop, in_tx(setup))
            for index in range(3):
                for origin in ORIGINS:
                    self.model.pockets[(index, origin)] = [0, 0]
            # Start with coins of every origin in play, through the real operations.
            self.grant(0, 300, "start")
            self.grant(1, 300, "start-1")
            self.complete(self.submit(0, 150), 150, 2)
            self.complete(self.submit(1, 90), 90, 0)

        # --- commands with idempotency keys ---------------------------------------------------------------
        def _command(self, actor: str, key: str, kind: str, body: tuple, apply_model, call) -> None:
            """Replays return the first result and change nothing; another body under a used key is refused."""
            seen = self.model.keys.get((actor, key))
            if seen is not None:
                accepted = execute(call)
                assert accepted == (seen == (kind, body)), (seen, kind, body)
                return
            try:
                apply_model()
                expected = True
            except Refused:
                expected = False
            accepted = execute(call)
            assert accepted == expected, f"{kind} {body}: ledger {'accepted' if accepted else 'refused'}"
            if accepted:
                self.model.keys[(actor, key)] = (kind, body)

        @rule(person=st.integers(0, 2), amount=st.integers(1, 150), key=st.sampled_from(["a", "b", "c"]))
        def grant(self, person: int, amount: int, key: str) -> None:
            def model() -> None:
                if not self.model.special[person]:
                    raise Refused
                self.model.issuance -= amount
                self.model.pockets[(person, "granted")][0] += amount

            self._command(
                self.officer,
                key,
                "grant",
                (person, amount),
                model,
                lambda s: transfers.grant(
                    s,
                    transfers.Caller(actor=self.officer, district=DISTRICT),
                    key=key,
                    person_id=self.ids[person],
                    amount=amount,
                    reason="补贴",
                    limit=10**6,
                    now=NOW,
                ),
            )

        @rule(person=st.integers(0, 2), amount=st.integers(1, 150), key=st.sampled_from(["a", "d"]))
        def allocate(self, person: int, amount: int, key: str) -> None:
            def model() -> None:
                if not self.model.special[person] or self.welfare_base + self.model.welfare < amount:
                    raise Refused
                self.model.welfare -= amount
                self.model.pockets[(person, "allocated")][0] += amount

            self._command(
                self.officer,
                key,
                "welfare_allocation",
                (person, amount),
                model,
                lambda s: transfers.allocate_welfare(
                    s,
                    transfers.Caller(actor=self.officer, district=DISTRICT),
                    key=key,
                    person_id=self.ids[person],
                    amount=amount,
                    reason="分配",
                    limit=10**6,
                    now=NOW,
                ),
            )

        @rule(person=st.integers(0, 2), amount=st.integers(1, 150), key=st.sampled_from(["x", "y"]))
        def donate(self, person: int, amount: int, key: str) -> None:
            def model() -> None:
                for origin, part in self.model.draw(person, TRANSFERABLE_ORDER, amount):
                    self.model.pockets[(person, origin)][0] -= part
                self.model.welfare += amount

            actor = str(self.ids[person])
            self._command(
                actor,
                key,
                "donation",
                (amount,),
                model,
                lambda s: transfers.donate(
                    s, transfers.Caller(actor=actor, person_id=self.ids[person]), key=key, amount=amount, now=NOW
                ),
            )

        @rule(
            sender=st.integers(0, 2), to=st.integers(0, 2), amount=st.integers(1, 150), key=st.sampled_from(["x", "z"])
        )
        def gift(self, sender: int, to: int, amount: int, key: str) -> None:
            def model() -> None:
                if frozenset({sender, to}) not in self.model.relatives:
                    raise Refused
                for origin, part in self.model.draw(sender, TRANSFERABLE_ORDER, amount):
                    self.model.pockets[(sender, origin)][0] -= part
                self.model.pockets[(to, "gifted")][0] += amount

            actor = str(self.ids[sender])
            self._command(
                actor,
                key,
                "gift",
                (to, amount),
                model,
                lambda s: transfers.gift(
                    s,
                    transfers.Caller(actor=actor, person_id=self.ids[sender]),
                    key=key,
                    to_person_id=self.ids[to],
                    amount=amount,
                    now=NOW,
                ),
            )

        # --- the request saga ------------------------------------------------------------------------------
        @rule(target=requests, elder=st.integers(0, 1), minutes=st.integers(1, 200))
        def submit(self, elder: int, minutes: int) -> uuid.UUID:
            request_id = uuid.uuid4()
            try:
                legs = self.model.draw(elder, self.model.spendable(elder), minutes)
                for origin, part in legs:
                    self.model.pockets[(elder, origin)][1] += part
                self.model.holds[request_id] = ModelHold(elder=elder, legs=legs)
            except Refused:
                self.model.holds[request_id] = ModelHold(elder=elder, legs=[], status="rejected")
            event = RequestSubmitted(
                request_id=request_id,
                elder_id=self.ids[elder],
                district=DISTRICT,
                category="协助服务",
                estimated_minutes=minutes,
                starts_at=NOW,
                ends_at=ENDS,
                submitted_by="x",
                submitted_at=NOW,
            )
            for _ in range(2):  # the second is a redelivery with a new event id: still one hold
                assert execute(lambda s: holds.place_hold(s, event, now=NOW, grace=GRACE))
            return request_id

        def _release(self, request_id: uuid.UUID) -> None:
            hold = self.model.holds.get(request_id)
            if hold and hold.status == "pending":
                for origin, part in hold.legs:
                    self.model.pockets[(hold.elder, origin)][1] -= part
                hold.status = "released"

        @rule(request=requests)
        def cancel(self, request: uuid.UUID) -> None:
            self._release(request)
            assert execute(lambda s: holds.release_hold(s, request, now=NOW))

        @rule(request=requests)
        def expire(self, request: uuid.UUID) -> None:
            self._release(request)
            assert execute(lambda s: holds.release_hold(s, request, now=ENDS + GRACE, why="expired"))

        @rule(request=requests, minutes=st.integers(0, 250), volunteer=st.sampled_from([2, 2, 0, 1]))
        def complete(self, request: uuid.UUID, minutes: int, volunteer: int) -> None:
            hold = self.model.holds[request]
            owed = 0 if volunteer == hold.elder else minutes  # nobody is paid for serving themself
            if hold.volunteer is None and hold.status != "settled":
                paid_from: list[tuple[str, int]] = []
                if hold.status == "pending":
                    remaining = owed
                    for origin, part in hold.legs:
                        self.model.pockets[(hold.elder, origin)][1] -= part
                        take = min(part, remaining)
                        if take:
                            paid_from.append((origin, take))
                            remaining -= take
                else:
                    order = self.model.spendable(hold.elder)
                    collected = min(owed, self.model.available(hold.elder, order))
                    paid_from = self.model.draw(hold.elder, order, collected)
                for origin, part in paid_from:
                    self.model.pockets[(hold.elder, origin)][0] -= part
                    hold.contributions[origin] = hold.contributions.get(origin, 0) + part
                hold.paid = sum(part for _, part in paid_from)
                self.model.pockets[(volunteer, "earned")][0] += hold.paid
                hold.status, hold.volunteer = "settled", volunteer
            event = ServiceCompleted(
                request_id=request,
                elder_id=self.ids[hold.elder],
                district=DISTRICT,
                participants=[ServiceParticipant(volunteer_id=self.ids[volunteer], minutes=minutes)],
                completed_at=NOW,
            )
            assert execute(lambda s: settlement.settle_service(s, event, now=NOW))

        @rule(request=requests, replay=st.booleans())
        def sanction(self, request: uuid.UUID, replay: bool) -> None:
            hold = self.model.holds[request]
            volunteer = hold.volunteer if hold.volunteer is not None else 2
            if replay and self.sanctions:
                sanction_id, request, volunteer = self.sanctions[-1]
            else:
                sanction_id = uuid.uuid4()
                self.sanctions.append((sanction_id, request, volunteer))
                if hold.paid > 0:
                    earned = self.model.pockets[(volunteer, "earned")]
                    taken = min(hold.paid, earned[0] - earned[1])
                    earned[0] -= taken
                    hold.paid = 0
                    for origin in OWN_SERVICE_ORDER:
                        part = min(taken, hold.contributions.get(origin, 0))
                        if part:
                            self.model.pockets[(hold.elder, origin)][0] += part
                            hold.contributions[origin] -= part
                            taken -= part
            event = SanctionApplied(
                sanction_id=sanction_id,
                alert_id=uuid.uuid4(),
                kind="volunteer_recording_revoked",
                person_id=self.ids[volunteer],
                false_request_ids=[request],
                decided_by="auditor",
                note="回访确认",
                decided_at=NOW,
            )
            assert execute(lambda s: settlement.reverse_false_records(s, event, now=NOW))

        # --- after every step --------------------------------------------------------------------------------
        @invariant()
        def ledger_matches_model_and_invariants_hold(self) -> None:
            async def read(session):
                rows = (
                    await session.execute(
                        text(
                            "SELECT owner_person_id, origin, balance, held FROM accounts WHERE owner_person_id = ANY(:p)"
                        ),
                        {"p": self.ids},
                    )
                ).all()
                system = (
                    await session.execute(
                        text(
                            "SELECT sum(balance) FILTER (WHERE kind = 'welfare'),"
                            " sum(balance) FILTER (WHERE kind = 'district_issuance' AND district = :d) FROM accounts"
                        ),
                        {"d": DISTRICT},
                    )
                ).one()
                return rows, system, await invariants.violations(session)

            rows, (welfare, issuance), broken = run(loop, in_tx(read))
            assert broken == {}
            actual = {(self.ids.index(r.owner_person_id), r.origin): [r.balance, r.held] for r in rows}
            assert actual == self.model.pockets
            assert (welfare - self.welfare_base, issuance - self.issuance_base) == (
                self.model.welfare,
                self.model.issuance,
            )

    try:
        run_state_machine_as_test(
            LedgerMachine,
            settings=settings(
                max_examples=40,
                stateful_step_count=40,
                deadline=None,
                database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            ),
        )
    finally:
        run(loop, db.dispose())
        loop.close()
