"""The fraud rules on weeks of simulated honest and fraudulent behaviour (devstack.fraud): each rule fires
on its pattern and not on the honest look-alikes; precision and recall on the labelled set are printed.
Rebuilding from the same events in another order (with redeliveries) yields the same alerts."""
import random

from devstack import fraud


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
        print(f"  {'overall':24} {hits / len(raised):9.2f} {hits / len(scenario.expected):7.2f} {len(raised):7d}"
              f" {len(scenario.expected):9d}")
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


async def test_rebuilding_from_the_events_in_another_order_gives_the_same_alerts(audit, second_audit):
    scenario = fraud.generate(weeks=4, seed=7)
    await audit.feed(scenario.events)
    shuffled = list(scenario.events)
    random.Random(1).shuffle(shuffled)
    redelivered = shuffled + random.Random(2).sample(scenario.events, 40)  # at-least-once delivery
    await second_audit.feed(redelivered, poll=37)
    first, again = await audit.alerts(), await second_audit.alerts()
    differences = [(a["rule"], k, a[k], b[k]) for a, b in zip(first, again) for k in a if a[k] != b[k]]
    assert differences == [] and len(first) == len(again)
    assert (await second_audit.verify()).records == len(scenario.events)  # duplicates never enter the trail


def test_the_hot_path_reads_every_field_the_contracts_define():
    """Audit reads payloads as dicts for speed; the contracts' examples must read the same as the models."""
    from contracts.ledger import CoinsGifted
    from contracts.matching import ServiceCompleted
    from servicekit.events import build_event

    from audit.events import _gift, _services
    done = ServiceCompleted.example()
    [service] = _services(build_event(source="matching", data=done, subject="x"))
    attended = done.attendance[0]
    assert (service.request_id, service.volunteer_id, service.checked_in_at, service.minutes, service.night_item) == (
        done.request_id, attended.volunteer_id, attended.checked_in_at, attended.minutes, done.night_service_item)
    gift = CoinsGifted.example()
    read = _gift(build_event(source="ledger", data=gift, subject="x"))
    assert (read.from_id, read.to_id, read.amount, read.at) == (gift.from_person_id, gift.to_person_id, gift.amount,
                                                                gift.gifted_at)
