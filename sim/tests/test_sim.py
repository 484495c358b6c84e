"""The rescue simulation runs the service's own dispatch rules on simulated arrests, and its figures move the way
the rules say they must."""

from __future__ import annotations

import random

import pytest

from aed.domain import policy
from sim import compare, plan, world
from sim.params import DEFAULT
from sim.rescue import draw_arrests


@pytest.fixture(scope="module")
def chaoyang():
    rng = random.Random(1)
    district = world.load("110105", DEFAULT, rng)
    return district, draw_arrests(district, DEFAULT, 300, rng=rng, widest_m=1500)


def test_the_district_is_drawn_from_its_outline_and_census(chaoyang):
    district, arrests = chaoyang
    assert 400 < district.area_km2 < 520  # 朝阳区: 470.8 km²
    assert len(district.aeds) == round(district.population * DEFAULT.aeds_per_1000 / 1000)
    assert all(district.contains(a.point) for a in arrests)
    assert all(r.distance_m <= 1500 for a in arrests for r in a.responders)


def test_policies_differ_as_their_rules_say(chaoyang):
    _, arrests = chaoyang
    rows = {r.name: r for r in compare.run(arrests, DEFAULT, compare.policies())}
    current = rows["current defaults"]
    assert rows["no fetcher"].aed_before_ems == 0 and rows["alert all ≤400 m (PulsePoint)"].aed_before_ems == 0
    assert current.aed_before_ems > 0.05
    assert rows["alert all ≤1000 m"].alerts > current.alerts > rows["radius 500 m"].alerts
    assert rows["no fetcher"].cpr(0.5) <= current.cpr(0.5), "a fetcher reaches the patient later"
    # The ambulance bounds every time: nobody waits longer than it takes.
    assert all(o.first_aed_s <= o.ems_s and o.first_cpr_s <= o.ems_s for o in current.outcomes)


def test_the_simulation_runs_the_service_s_dispatch_code(chaoyang, monkeypatch):
    _, arrests = chaoyang
    chosen = {"current": policy.DispatchPolicy.of(compare.AedSettings())}
    before = compare.run(arrests, DEFAULT, chosen)[0]
    monkeypatch.setattr(policy, "assign", lambda *args, **kwargs: policy.Assignment("direct"))
    after = compare.run(arrests, DEFAULT, chosen)[0]
    assert before.aed_before_ems > 0 and after.aed_before_ems == 0


def test_the_planner_names_places_in_the_district_that_save_time():
    rng = random.Random(3)
    district = world.load("110101", DEFAULT, rng)  # 东城: small and dense
    text = plan.report(district, DEFAULT, rng, arrests=300, aeds=5, responders=50, top=3)
    assert text.startswith("东城区")
    places = [line.split()[0:2] for line in text.splitlines() if "(WGS-84)" in line]
    assert places, text
    for lat, lon in places:
        assert 39.8 < float(lat.rstrip(",")) < 40.0 and 116.3 < float(lon) < 116.5
