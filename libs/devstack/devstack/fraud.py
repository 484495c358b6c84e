"""A scenario generator for audit's fraud rules: weeks of honest and fraudulent behaviour as the events the
services would publish (explicit times, no waiting), with labels — which (rule, pattern key) alerts a
perfect supervisor raises. Honest look-alikes are there on purpose: a daughter gifting her parents monthly,
a night-shift carer with a documented night item in a district that allows it, neighbours who help each
other now and then, back-to-back services, a grandparent's gift passed on weeks later.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from contracts.base import EventData
from contracts.identity import ResidenceDeclared
from contracts.ledger import CoinsGifted
from contracts.matching import Attendance, ServiceCompleted, ServiceParticipant
from servicekit.events import CloudEvent, build_event

BEIJING = ZoneInfo("Asia/Shanghai")
NIGHT_FRIENDLY = "110105"  # the district whose overrides allow documented night items
STRICT = "110108"


@dataclass
class Scenario:
    events: list[CloudEvent] = field(default_factory=list)
    expected: set[tuple[str, str]] = field(default_factory=set)
    fraudsters: dict[str, uuid.UUID] = field(default_factory=dict)

    def add(self, data: EventData, *, source: str, subject: object, at: datetime) -> CloudEvent:
        event = build_event(source=source, data=data, subject=str(subject)).model_copy(update={"time": at})
        self.events.append(event)
        return event


def _local(day: datetime, hour: float) -> datetime:
    """`hour` o'clock Beijing time on `day` (a date at midnight Beijing), in UTC."""
    return (day + timedelta(hours=hour)).astimezone(UTC)


class _Builder:
    def __init__(self, seed: int, start: datetime) -> None:
        self.rng = random.Random(seed)
        self.start = start.astimezone(BEIJING).replace(hour=0, minute=0, second=0, microsecond=0)
        self.scenario = Scenario()

    def person(self, district: str) -> uuid.UUID:
        person = uuid.uuid4()
        self.scenario.add(
            ResidenceDeclared(
                person_id=person,
                district=district,
                permanent_resident=True,
                declared_by=str(person),
                declared_at=self.start.astimezone(UTC),
            ),
            source="identity",
            subject=person,
            at=self.start.astimezone(UTC),
        )
        return person

    def day(self, n: int) -> datetime:
        return self.start + timedelta(days=n)

    def service(
        self,
        volunteer: uuid.UUID,
        elder: uuid.UUID,
        district: str,
        check_in: datetime,
        minutes: int,
        *,
        distance: int = 30,
        night_item: bool = False,
        institution: uuid.UUID | None = None,
        recorded_minutes: int | None = None,
    ) -> None:
        request = uuid.uuid4()
        check_out = check_in + timedelta(minutes=minutes)
        method = "institution" if institution else "app"
        by = str(institution) if institution else str(volunteer)
        paid = minutes if recorded_minutes is None else recorded_minutes
        self.scenario.add(
            ServiceCompleted(
                request_id=request,
                elder_id=elder,
                district=district,
                completed_at=check_out,
                category="assistance",
                item_id=uuid.uuid4(),
                starts_at=check_in,
                ends_at=check_out,
                institution_id=institution,
                night_service_item=night_item,
                participants=[ServiceParticipant(volunteer_id=volunteer, minutes=paid)],
                attendance=[
                    Attendance(
                        volunteer_id=volunteer,
                        checked_in_at=check_in,
                        check_in_distance_m=distance,
                        check_in_by=by,
                        check_in_method=method,
                        checked_out_at=check_out,
                        check_out_distance_m=distance,
                        check_out_by=by,
                        check_out_method=method,
                        minutes=paid,
                    )
                ],
            ),
            source="matching",
            subject=request,
            at=check_out,
        )

    def gift(self, giver: uuid.UUID, receiver: uuid.UUID, amount: int, at: datetime) -> None:
        self.scenario.add(
            CoinsGifted(
                operation_id=uuid.uuid4(), from_person_id=giver, to_person_id=receiver, amount=amount, gifted_at=at
            ),
            source="ledger",
            subject=giver,
            at=at,
        )

    def expect(self, rule: str, key: str) -> None:
        self.scenario.expected.add((rule, key))


def generate(
    *,
    seed: int = 2026,
    weeks: int = 4,
    honest_volunteers: int = 24,
    elders: int = 40,
    start: datetime = datetime(2026, 9, 1, tzinfo=UTC),
) -> Scenario:
    b = _Builder(seed, start)
    district_of: dict[uuid.UUID, str] = {}
    old = []
    for i in range(elders):
        district = NIGHT_FRIENDLY if i % 2 else STRICT
        elder = b.person(district)
        district_of[elder] = district
        old.append(elder)
    institution = uuid.uuid4()

    # Honest volunteers: daytime services of 45-150 minutes, close to the place, some back to back.
    for _ in range(honest_volunteers):
        volunteer = b.person(b.rng.choice([NIGHT_FRIENDLY, STRICT]))
        for week in range(weeks):
            for day in sorted(b.rng.sample(range(7), b.rng.randint(1, 3))):
                hour = b.rng.choice([9, 10, 13, 14, 15])
                elder = b.rng.choice(old)
                minutes = b.rng.choice([45, 60, 90, 120, 150])
                b.service(
                    volunteer,
                    elder,
                    district_of[elder],
                    _local(b.day(week * 7 + day), hour),
                    minutes,
                    distance=b.rng.randint(3, 150),
                )
                if b.rng.random() < 0.3:  # a second service right after the first ends: touching, not overlapping
                    other = b.rng.choice(old)
                    b.service(
                        volunteer,
                        other,
                        district_of[other],
                        _local(b.day(week * 7 + day), hour) + timedelta(minutes=minutes),
                        60,
                        distance=b.rng.randint(3, 150),
                    )

    # Honest look-alikes.
    carer = b.person(NIGHT_FRIENDLY)  # night care, a documented night item where the district allows it
    for week in range(weeks):
        patient = old[1]
        b.service(carer, patient, NIGHT_FRIENDLY, _local(b.day(week * 7 + 2), 22.5), 480, night_item=True)
    neighbour_a, neighbour_b = b.person(STRICT), b.person(STRICT)  # help each other once or twice a month
    b.service(neighbour_a, neighbour_b, STRICT, _local(b.day(3), 10), 60)
    b.service(neighbour_b, neighbour_a, STRICT, _local(b.day(17), 10), 60)
    daughter, father, mother = b.person(STRICT), b.person(STRICT), b.person(STRICT)  # monthly gifts to parents
    for month in range(max(1, weeks // 4) + 1):
        at = _local(b.day(month * 30 + 1), 20)
        b.gift(daughter, father, 600, at)
        b.gift(daughter, mother, 600, at + timedelta(minutes=5))
    grandpa, son, grandchild = b.person(STRICT), b.person(STRICT), b.person(STRICT)  # passed on weeks later
    b.gift(grandpa, son, 1200, _local(b.day(2), 11))
    b.gift(son, grandchild, 600, _local(b.day(16), 11))

    # Fraud, one pattern each, labelled.
    f1 = b.person(STRICT)  # in two services at once: one in the app, one recorded offline by an institution
    b.service(f1, old[0], STRICT, _local(b.day(5), 10), 120)
    b.service(f1, old[2], STRICT, _local(b.day(5), 11), 90, institution=institution)
    b.expect("overlapping_services", f"volunteer:{f1}")

    f2a, f2b = b.person(STRICT), b.person(STRICT)  # serve each other six times in three weeks
    for n in range(6):
        giver, taker = (f2a, f2b) if n % 2 == 0 else (f2b, f2a)
        b.service(giver, taker, STRICT, _local(b.day(2 + 3 * n), 15), 120)
    lo, hi = sorted((f2a, f2b))
    b.expect("two_way_service", f"pair:{lo}:{hi}")

    f3 = b.person(STRICT)  # late at night, an ordinary item, in a district that allows none
    for n in range(3):
        b.service(f3, old[4], STRICT, _local(b.day(4 + 7 * n), 23.5), 60)
    b.expect("late_night_service", f"volunteer:{f3}")

    f4, r4 = b.person(STRICT), b.person(STRICT)  # six gifts in five days
    for n in range(6):
        b.gift(f4, r4, 300, _local(b.day(8 + n % 5), 9 + n))
    b.expect("frequent_gifting", f"from:{f4}")
    b.expect("frequent_gifting", f"to:{r4}")

    f5a, f5b, f5c = b.person(STRICT), b.person(STRICT), b.person(STRICT)  # A → B → C within hours
    b.gift(f5a, f5b, 900, _local(b.day(12), 10))
    b.gift(f5b, f5c, 900, _local(b.day(12), 13))
    b.expect("gift_chain", f"via:{f5b}")

    f6 = b.person(STRICT)  # signs in at the edge of the allowed radius, time after time
    for n in range(3):
        b.service(f6, old[6], STRICT, _local(b.day(6 + 7 * n), 9), 60, distance=280 + n * 5)
    b.expect("far_from_place", f"volunteer:{f6}")

    f7 = b.person(STRICT)  # three-minute "services"
    for n in range(2):
        b.service(f7, old[8], STRICT, _local(b.day(9 + n), 16), 3)
    b.expect("implausible_duration", f"volunteer:{f7}")

    b.scenario.fraudsters = {"f1": f1, "f2a": f2a, "f3": f3, "f4": f4, "f5b": f5b, "f6": f6, "f7": f7}
    b.scenario.events.sort(key=lambda e: e.time)
    return b.scenario
