"""The dispatch policy the service runs and the rescue simulation drives (aed.domain.policy): whom to alert and
when, and who fetches an AED first."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from aed.domain import hours
from aed.domain.policy import AedOption, AlertCounts, DispatchPolicy, assign, hand_over, responders_to_alert
from aed.settings import AedSettings
from servicekit import geo

POLICY = DispatchPolicy(
    radius_m=1000,
    needed=3,
    wave_size=3,
    wave_interval_s=30,
    max_fetchers=1,
    fetch_max_path_m=1500,
    fetch_max_detour_m=100_000,
)
PATIENT = geo.Point(39.9219, 116.4436)
BEIJING = ZoneInfo("Asia/Shanghai")


def _east(metres: float) -> geo.Point:
    return geo.Point(PATIENT.lat, PATIENT.lon + metres / 85_300)


def test_the_policy_is_read_from_the_service_settings():
    settings = AedSettings()
    policy = DispatchPolicy.of(settings)
    assert (policy.radius_m, policy.needed, policy.wave_size) == (
        settings.incident_radius_m,
        settings.responders_needed,
        settings.wave_size,
    )
    assert (policy.wave_interval_s, policy.max_fetchers, policy.fetch_max_path_m, policy.fetch_max_detour_m) == (
        settings.wave_interval_s,
        settings.max_fetchers,
        settings.fetch_max_path_m,
        settings.fetch_max_detour_m,
    )


def test_alert_counts_read_the_statuses():
    assert AlertCounts.of(["sent", "accepted", "declined", "sent", "cancelled"]) == AlertCounts(sent=2, accepted=1)


@pytest.mark.parametrize(
    ("sent", "accepted", "wave_due", "expected"),
    [
        (0, 0, True, 3),  # the first wave
        (3, 0, True, 3),  # the interval ran out with no one answering: the next wave
        (1, 1, False, 3),  # a decline left two engaged of three needed: a whole wave, not one
        (2, 1, False, 0),  # still three engaged: wait for the wave's time
        (0, 3, True, 0),  # enough accepted: no one else is disturbed
        (5, 2, True, 3),  # a due wave even though enough are pending
    ],
)
def test_whom_to_alert_now(sent, accepted, wave_due, expected):
    assert responders_to_alert(POLICY, 3, AlertCounts(sent, accepted), wave_due=wave_due) == expected


def test_a_large_shortfall_alerts_more_than_a_wave():
    assert responders_to_alert(POLICY, 8, AlertCounts(1, 0), wave_due=True) == 7


def test_the_first_accepting_responder_fetches_the_aed_on_the_shortest_way_round():
    nearest_the_patient = AedOption("a", geo.Point(PATIENT.lat + 100 / 111_320, PATIENT.lon), 100)  # 100 m north
    on_the_way = AedOption("b", _east(350), 350)
    job = assign(POLICY, _east(400), PATIENT, fetching=[], aeds=[nearest_the_patient, on_the_way])
    assert job.role == "fetch_aed" and job.aed == "b"
    assert job.path_m == pytest.approx(400, abs=2)


def test_an_aed_already_being_fetched_is_not_sent_for_twice_and_fetchers_are_capped():
    aeds = [AedOption("a", _east(100), 100), AedOption("b", _east(300), 300)]
    two = DispatchPolicy(**{**POLICY.__dict__, "max_fetchers": 2})
    assert assign(two, _east(200), PATIENT, fetching=["a"], aeds=aeds).aed == "b"
    assert assign(POLICY, _east(200), PATIENT, fetching=["a"], aeds=aeds).role == "direct"


def test_a_detour_too_long_sends_the_responder_straight_to_the_patient():
    far_side = AedOption("a", _east(-900), 900)
    assert assign(POLICY, _east(700), PATIENT, fetching=[], aeds=[far_side]).role == "direct"  # 1600 m > 1500 m
    assert assign(POLICY, None, PATIENT, fetching=[], aeds=[far_side]).role == "direct"  # no known position
    assert assign(POLICY, _east(500), PATIENT, fetching=[], aeds=[]).role == "direct"


def test_an_aed_far_off_the_way_is_left_for_someone_better_placed():
    behind = AedOption("a", _east(-250), 250)  # past the patient, on the far side from the responder
    capped = DispatchPolicy(**{**POLICY.__dict__, "fetch_max_detour_m": 600})
    assert assign(capped, _east(200), PATIENT, fetching=[], aeds=[behind]).role == "fetch_aed"  # 700 - 200 = 500
    further = AedOption("b", _east(-400), 400)
    assert assign(capped, _east(400), PATIENT, fetching=[], aeds=[further]).role == "direct"  # 1200 - 400 = 800
    assert assign(POLICY, _east(400), PATIENT, fetching=[], aeds=[further]).role == "fetch_aed"  # no cap


def test_ties_between_equal_paths_are_broken_the_same_way_every_time():
    twins = [AedOption("b", _east(200), 200), AedOption("a", _east(200), 200)]
    assert assign(POLICY, _east(300), PATIENT, fetching=[], aeds=twins).aed == "a"


@pytest.mark.parametrize(
    ("spec", "moment", "holiday", "open_"),
    [
        ("24/7", datetime(2026, 12, 6, 3, 0), False, True),
        ("Mo-Fr 08:00-18:00", datetime(2026, 12, 7, 9, 0), False, True),  # Monday morning
        ("Mo-Fr 08:00-18:00", datetime(2026, 12, 7, 18, 0), False, False),  # closes at 18:00
        ("Mo-Fr 08:00-18:00", datetime(2026, 12, 6, 9, 0), False, False),  # Sunday
        ("Mo-Fr 08:00-18:00; PH off", datetime(2026, 12, 7, 9, 0), True, False),
        ("Fr 22:00-02:00", datetime(2026, 12, 12, 1, 0), False, True),  # Friday night, into Saturday
        ("Fr 22:00-02:00", datetime(2026, 12, 12, 2, 0), False, False),
        ("Su 20:00-24:00", datetime(2026, 12, 6, 23, 59), False, True),
        ("Su 22:00-01:00", datetime(2026, 12, 7, 0, 30), False, True),  # Sunday night into Monday
    ],
)
def test_opening_hours_at_a_moment_follow_the_lookup_rule(spec, moment, holiday, open_):
    assert hours.open_at(hours.parse(spec), moment.replace(tzinfo=BEIJING), holiday=holiday) is open_


def test_a_freed_aed_goes_to_the_responder_whose_way_through_it_is_shortest_within_the_limits():
    aed = AedOption("a", _east(300), 300)
    capped = DispatchPolicy(**{**POLICY.__dict__, "fetch_max_detour_m": 500})
    taker = hand_over(capped, aed, PATIENT, {"far": _east(-900), "near": _east(500), "closer": _east(350)})
    assert taker is not None and taker.responder == "closer" and taker.path_m == pytest.approx(350, abs=2)
    # Behind the patient: through the AED is 600 m more than going straight, over the 500 m allowed.
    assert hand_over(capped, aed, PATIENT, {"behind": _east(-400)}) is None
    assert hand_over(POLICY, aed, PATIENT, {"behind": _east(-400)}) is not None
    assert hand_over(POLICY, aed, PATIENT, {"too far": _east(-1300)}) is None  # 1600 + 300 > 1500 m
    assert hand_over(POLICY, aed, PATIENT, {}) is None
