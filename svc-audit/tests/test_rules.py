"""The fraud rules on weeks of simulated honest and fraudulent behaviour (devstack.fraud): each rule fires
on its pattern and not on the honest look-alikes; precision and recall on the labelled set are printed.
Rebuilding from the same events in another order (with redeliveries) yields the same alerts."""

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from audit import judging
from audit.db import facts
from contracts.matching import ServiceCompleted, ServiceParticipant
from devstack import fraud
from servicekit.events import build_event


def _score(raised: set, expected: set) -> dict[str, tuple[float, float, int, int]]:
    rules = sorted({r for r, _ in raised | expected})
    table = {}
    for rule in rules:
        got = {k for r, k in raised if r == rule}
        want = {k for r, k in expected if r == rule}
        hit = len(got & want)
        table[rule] = (hit / len(got) if got else 1.0, hit / len(want) if want else 1.0, len(got), len(want))
    return table


async def test_each_rule_fires_on_its_pattern_and_not_on_honest_look_alikes(audit, capsys):
    scenario = fraud.generate(weeks=4)
    await audit.feed(scenario.events)
    raised = {(a["rule"], a["key"]) for a in await audit.alerts()}
    table = _score(raised, scenario.expected)
    with capsys.disabled():
        print(f"\nfraud rules on {len(scenario.events)} events over 4 simulated weeks:")
        print(f"  {'rule':24} precision  recall  raised  labelled")
        for rule, (precision, recall, got, want) in table.items():
            print(f"  {rule:24} {precision:9.2f} {recall:7.2f} {got:7d} {want:9d}")
        hits = len(raised & scenario.expected)
        print(
            f"  {'overall':24} {hits / len(raised):9.2f} {hits / len(scenario.expected):7.2f} {len(raised):7d}"
            f" {len(scenario.expected):9d}"
        )
    assert raised - scenario.expected == set(), "alerts on honest behaviour"
    assert scenario.expected - raised == set(), "fraud missed"


async def test_alerts_name_rule_severity_people_and_evidence_and_repeats_update_one_alert(audit):
    scenario = fraud.generate(weeks=4)
    await audit.feed(scenario.events)
    alerts = {(a["rule"], a["key"]): a for a in await audit.alerts()}
    night = alerts[("late_night_service", f"volunteer:{scenario.fraudsters['f3']}")]
    assert len(night["evidence"]) == 3 and night["severity"] == 2  # three nights: one alert, raised to medium
    overlap = alerts[("overlapping_services", f"volunteer:{scenario.fraudsters['f1']}")]
    assert overlap["severity"] == 3 and overlap["institution_id"] is not None and len(overlap["request_ids"]) == 2
    assert overlap["district"] == "110108"
    gifts = alerts[("frequent_gifting", f"from:{scenario.fraudsters['f4']}")]
    assert len(gifts["evidence"]) == 6 and gifts["district"] == "110108"


async def test_rebuilding_from_the_events_in_another_order_gives_the_same_alerts(audit, audit_with):
    """Also when the judge takes the trail in other slices than the consumer appended it (a judge behind
    after a restart judges what piled up, `judge_max_records` at a time)."""
    scenario = fraud.generate(weeks=4, seed=7)
    await audit.feed(scenario.events)
    shuffled = list(scenario.events)
    random.Random(1).shuffle(shuffled)
    redelivered = shuffled + random.Random(2).sample(scenario.events, 40)  # at-least-once delivery
    second_audit = await audit_with(judge_max_records=50)
    await second_audit.feed(redelivered, poll=37, judge_each=False)
    assert await second_audit.alerts() == []  # appended, not judged yet
    assert await second_audit.judge.catch_up() == len(scenario.events)
    first, again = await audit.alerts(), await second_audit.alerts()
    differences = [(a["rule"], k, a[k], b[k]) for a, b in zip(first, again, strict=True) for k in a if a[k] != b[k]]
    assert differences == [] and len(first) == len(again)
    assert (await second_audit.verify()).records == len(scenario.events)  # duplicates never enter the trail


async def test_the_facts_read_every_field_the_contracts_define(audit):
    """Audit reads payloads as plain JSON for speed (services in SQL, gifts as dicts); the contracts' examples
    must read the same as the models, and a service reported again adds nothing."""
    from audit.judging import read_gift
    from contracts.ledger import CoinsGifted
    from contracts.matching import ServiceCompleted
    from servicekit.events import build_event

    done = ServiceCompleted.example()
    await audit.feed([build_event(source="matching", data=done, subject="x") for _ in range(2)])
    async with audit.db.transaction() as session:
        rows = (
            await session.execute(
                text(
                    "SELECT request_id, volunteer_id, elder_id, district, institution_id, night_item, checked_in_at,"
                    " checked_out_at, check_in_distance_m, check_out_distance_m, check_in_method, check_out_method,"
                    " recorded_by, minutes, seq FROM services"
                )
            )
        ).all()
    attended = done.attendance[0]
    assert [tuple(r) for r in rows] == [
        (
            done.request_id,
            attended.volunteer_id,
            done.elder_id,
            done.district,
            None,
            done.night_service_item,
            attended.checked_in_at,
            attended.checked_out_at,
            attended.check_in_distance_m,
            attended.check_out_distance_m,
            attended.check_in_method,
            attended.check_out_method,
            attended.check_out_by,
            attended.minutes,
            1,
        )
    ]
    gift = CoinsGifted.example()
    event = build_event(source="ledger", data=gift, subject="x")
    read = read_gift(event.data, event.id)
    assert (read.from_id, read.to_id, read.amount, read.at) == (
        gift.from_person_id,
        gift.to_person_id,
        gift.amount,
        gift.gifted_at,
    )


def _service(
    n: int,
    district: str,
    *,
    start: datetime,
    minutes: int,
    distance_m: int = 20,
    volunteer: int | None = None,
    elder: uuid.UUID | None = None,
):
    """A one-volunteer completed service (volunteer n and an elder of its own unless named; request n)."""
    volunteer_id, request = uuid.UUID(int=1000 + (n if volunteer is None else volunteer)), uuid.UUID(int=2000 + n)
    done = ServiceCompleted.example()
    attended = done.attendance[0].model_copy(
        update=dict(
            volunteer_id=volunteer_id,
            checked_in_at=start,
            checked_out_at=start + timedelta(minutes=minutes),
            check_in_distance_m=distance_m,
            check_out_distance_m=distance_m,
            minutes=minutes,
            check_in_by=str(volunteer_id),
            check_out_by=str(volunteer_id),
        )
    )
    data = done.model_copy(
        update=dict(
            request_id=request,
            elder_id=elder or uuid.UUID(int=3000 + n),
            district=district,
            participants=[ServiceParticipant(volunteer_id=volunteer_id, minutes=minutes)],
            attendance=[attended],
        )
    )
    return build_event(source="matching", data=data, subject=str(request))


async def test_services_overlap_when_one_starts_before_the_other_ends(audit):
    """Spans are half-open: back-to-back services and a service of no length do not overlap, whichever
    arrives first; one inside another does; another volunteer's service never does."""
    ten = datetime(2026, 12, 1, 2, tzinfo=UTC)  # 10:00 in Beijing
    first = [
        _service(1, "110108", start=ten, minutes=60, volunteer=1),  # 10:00-11:00, then 11:00-12:00
        _service(3, "110108", start=ten + timedelta(hours=1), minutes=60, volunteer=6),  # 11:00-12:00, then 10-11
        _service(5, "110108", start=ten + timedelta(minutes=30), minutes=30, volunteer=2),  # inside 10:00-12:00
        _service(7, "110108", start=ten + timedelta(minutes=30), minutes=0, volunteer=3),  # no length, at 10:30
        _service(9, "110108", start=ten + timedelta(minutes=30), minutes=60, volunteer=4),  # someone else
        _service(11, "110108", start=ten, minutes=60, volunteer=7),
    ]  # 10:00-11:00, then no length at 10:30
    second = [
        _service(2, "110108", start=ten + timedelta(hours=1), minutes=60, volunteer=1),
        _service(4, "110108", start=ten, minutes=60, volunteer=6),
        _service(6, "110108", start=ten, minutes=120, volunteer=2),
        _service(8, "110108", start=ten, minutes=60, volunteer=3),
        _service(10, "110108", start=ten, minutes=60, volunteer=5),
        _service(12, "110108", start=ten + timedelta(minutes=30), minutes=0, volunteer=7),
    ]
    await audit.feed(first)
    await audit.feed(second)
    overlaps = [a for a in await audit.alerts() if a["rule"] == "overlapping_services"]
    assert [(a["key"], sorted(a["request_ids"])) for a in overlaps] == [
        (f"volunteer:{uuid.UUID(int=1002)}", [uuid.UUID(int=2005), uuid.UUID(int=2006)])
    ]


async def _part_of(audit, subject: str) -> int:
    async with audit.db.transaction() as session:
        return await facts.recorder_of(session, subject, judging.RECORDERS)


async def test_the_earliest_report_of_a_service_wins_whichever_recorder_commits_first(audit):
    """Service reports are recorded by several transactions at once, split by subject. Two reports of one
    service under subjects of different recorders: the later report's recorder committing first does not
    make it win."""
    first = _service(1, "110108", start=datetime(2026, 12, 1, 2, tzinfo=UTC), minutes=40)
    subjects = [f"s-{i}" for i in range(20)]
    parts = [await _part_of(audit, s) for s in subjects]
    first = first.model_copy(update={"subject": subjects[0]})
    later = first.model_copy(
        update={
            "id": uuid.uuid4(),
            "subject": subjects[parts.index(1 - parts[0])],
            "data": {**first.data, "attendance": [{**first.data["attendance"][0], "minutes": 90}]},
        }
    )
    await audit.feed([first, later], judge_each=False)
    for part in (1 - parts[0], parts[0], 1 - parts[0]):  # the later report's recorder first, and again
        async with audit.db.transaction() as session:
            await facts.record_services(session, 0, 2, part=part, parts=judging.RECORDERS)
    assert await audit.judge.catch_up() == 2  # its recorders record (0, 2] again: nothing changes
    async with audit.db.transaction() as session:
        rows = (await session.execute(text("SELECT minutes, seq, event_id FROM services"))).all()
    assert [tuple(r) for r in rows] == [(40, 1, first.id)]


async def test_services_recorded_ahead_of_the_judge_are_judged_as_if_recorded_with_it(audit, audit_with):
    """The recorders commit before the judge's transaction — the service records ahead on every commit: a
    judge that comes later (or stopped in between: a crash) finds the services recorded and their cursors
    moved, records nothing twice and raises what it would have."""
    scenario = fraud.generate(weeks=2, seed=11)
    await audit.feed(scenario.events)
    stopped = await audit_with(judge_max_records=100)
    await stopped.feed(scenario.events, judge_each=False)
    await stopped.judge.record_ahead()  # ... and the judge stopped here
    async with stopped.db.transaction() as session:
        recorded = (await session.execute(text("SELECT count(*), max(seq) FROM services"))).one()
        cursors = (await session.execute(text("SELECT part, seq FROM recorded ORDER BY part"))).all()
    assert [tuple(c) for c in cursors] == [(p, len(scenario.events)) for p in range(judging.RECORDERS)]
    assert await stopped.judge.catch_up() == len(scenario.events)
    async with stopped.db.transaction() as session:
        assert (await session.execute(text("SELECT count(*), max(seq) FROM services"))).one() == recorded
    assert await stopped.alerts() == await audit.alerts() != []


async def test_two_way_severity_depends_on_the_services_not_on_how_they_were_judged(audit_with):
    """High at 2 × the minimum within one window: 13 services between a pair every 5 days hold at most 7 in
    any 30 days — medium, whether judged one by one as they happened or all at once (the union of the
    windows around the middle one holds all 13). Escalation by evidence count is off here."""
    day0 = datetime(2026, 10, 1, 2, tzinfo=UTC)
    a, b = uuid.UUID(int=1001), uuid.UUID(int=1002)
    services = [
        _service(
            n,
            "110108",
            start=day0 + timedelta(days=5 * n),
            minutes=60,
            volunteer=1 if n % 2 else 2,
            elder=b if n % 2 else a,
        )
        for n in range(1, 14)
    ]
    results = []
    for poll in (1, len(services)):
        audit = await audit_with(rules={"escalate_after": 100})
        await audit.feed(services, poll=poll)
        results.append([(x["rule"], x["severity"], len(x["evidence"])) for x in await audit.alerts()])
    assert results[0] == results[1] == [("two_way_service", 2, 13)]


async def test_a_districts_own_thresholds_decide_there_and_only_there(audit_with):
    """The single-service rules pre-select in SQL with each district's thresholds: 110105 allows 1 km, nights
    from 23:00 and 5-minute services; 110108 keeps the city-wide 250 m, 22:00 and 10 minutes."""
    audit = await audit_with(
        district_overrides={"110105": {"far_distance_m": 1000, "night_starts_hour": 23, "min_service_minutes": 5}}
    )
    day = datetime(2026, 12, 1, 2, tzinfo=UTC)  # 10:00 in Beijing
    late = datetime(2026, 12, 1, 14, 10, tzinfo=UTC)  # 22:10 in Beijing
    events = []
    for offset, district in ((0, "110105"), (10, "110108")):
        events += [
            _service(offset + 1, district, start=day, minutes=90, distance_m=300),
            _service(offset + 2, district, start=late, minutes=40),
            _service(offset + 3, district, start=day, minutes=8),
        ]
    await audit.feed(events)
    raised = {(a["rule"], a["key"]) for a in await audit.alerts()}
    assert raised == {
        ("far_from_place", f"volunteer:{uuid.UUID(int=1011)}"),
        ("late_night_service", f"volunteer:{uuid.UUID(int=1012)}"),
        ("implausible_duration", f"volunteer:{uuid.UUID(int=1013)}"),
    }


def _unreadable(kind: str):
    if kind == "service":  # minutes "abc": read by the recorders, in PostgreSQL
        bad = _service(2, "110108", start=datetime(2026, 12, 1, 2, tzinfo=UTC), minutes=90)
        return bad.model_copy(
            update={"data": {**bad.data, "attendance": [{**bad.data["attendance"][0], "minutes": "abc"}]}}
        ), "integer"
    from contracts.ledger import CoinsGifted  # no receiver: read by the judge, in Python

    gift = build_event(source="ledger", data=CoinsGifted.example(), subject="x")
    return gift.model_copy(update={"data": {k: v for k, v in gift.data.items() if k != "to_person_id"}}), "KeyError"


@pytest.mark.parametrize("kind", ["service", "gift"])
async def test_a_record_whose_facts_cannot_be_read_is_listed_and_passed_over(audit, kind):
    """The trail keeps every well-formed event; one whose payload the rules cannot read is listed in
    `unjudged` with the error, and the records after it are judged all the same."""
    good = _service(1, "110108", start=datetime(2026, 12, 1, 14, 10, tzinfo=UTC), minutes=40)  # 22:10 in Beijing
    bad, error = _unreadable(kind)
    await audit.feed([bad, good], poll=1, judge_each=False)
    assert await audit.judge.catch_up() == 2
    assert (await audit.verify()).records == 2
    async with audit.db.transaction() as session:
        unjudged = (await session.execute(text("SELECT seq, error FROM unjudged"))).all()
        judged = (await session.execute(text("SELECT seq FROM judged"))).scalar_one()
    assert [seq for seq, _ in unjudged] == [1] and error in unjudged[0].error and judged == 2
    assert {(a["rule"], a["key"]) for a in await audit.alerts()} == {
        ("late_night_service", f"volunteer:{uuid.UUID(int=1001)}")
    }


async def test_a_recorder_without_a_cursor_starts_where_the_rules_judged(audit, audit_with, monkeypatch):
    """Raising RECORDERS adds recorders whose cursors do not exist yet: the judge makes them, at the judged
    position (everything before was recorded with the others), and every service of what follows is kept."""
    scenario = fraud.generate(weeks=2, seed=11)
    half = len(scenario.events) // 2
    await audit.feed(scenario.events)
    more = await audit_with()
    await more.feed(scenario.events[:half])
    monkeypatch.setattr(judging, "RECORDERS", judging.RECORDERS + 1)
    restarted = judging.Judge(more.db, more.settings)  # the service restarted with one more recorder
    await more.feed(scenario.events[half:], judge_each=False)
    assert await restarted.catch_up() == len(scenario.events)
    async with more.db.transaction() as session:
        cursors = (await session.execute(text("SELECT part, seq FROM recorded ORDER BY part"))).all()
        services = (await session.execute(text("SELECT count(*) FROM services"))).scalar()
    async with audit.db.transaction() as session:
        assert services == (await session.execute(text("SELECT count(*) FROM services"))).scalar()
    assert [tuple(c) for c in cursors] == [(p, len(scenario.events)) for p in range(judging.RECORDERS)]
    assert await more.alerts() == await audit.alerts() != []


async def test_the_watchlist_lists_each_tracked_subject_once_with_its_alerts_in_cursor_pages(audit):
    from audit.domain import alerts as alert_cases
    from servicekit.pagination import PageRequest, decode_cursor

    scenario = fraud.generate(weeks=4)
    await audit.feed(scenario.events)
    high = [a for a in await audit.alerts() if a["severity"] >= 3]
    tracked = {p for a in high for p in a["people"]} | {a["institution_id"] for a in high if a["institution_id"]}
    assert tracked, "the scenario raises high-severity alerts"
    seen, page = [], PageRequest(None, 1)
    while True:  # one subject a page: the cursor carries the place
        async with audit.db.transaction() as session:
            rows, cursor = await alert_cases.watchlist(session, page)
        seen += rows
        if cursor is None:
            break
        page = PageRequest(decode_cursor(alert_cases.WATCHLIST, cursor), 1)
    assert sorted(r["subject_id"] for r in seen) == sorted(tracked)  # each once, none skipped
    assert [r["since"] for r in seen] == sorted((r["since"] for r in seen), reverse=True)
    for row in seen:
        assert row["alerts"] and all(a["reason"] and a["rule"] for a in row["alerts"])
