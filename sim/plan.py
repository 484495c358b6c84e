"""Coverage planning from the rescue model: where would the next AEDs, or the next trained responders, shorten the
time to an AED the most?

Each district's arrests are simulated under the service's current policy. A candidate place (the centre of a 1 km
cell inside the district) is scored by the minutes of time-to-AED it would save a year, summed over the
simulated arrests it could serve, each weighted by the arrests a year it stands for:

- a new AED (open around the clock) there saves what the first responder the policy could send for an AED would
  gain by fetching it instead — the service's own rule (`assign`) takes it when its path responder → AED →
  patient is shorter than the one they had and within `fetch_max_path_m`;
- a new on-duty responder there saves, with the chance that an alerted responder arrives (27.1 %), what they would
  gain as the first fetcher if they accepted before anyone else, alerted with the wave their rank among those on
  duty puts them in (an expectation, not a re-simulation: stated in ADR 19).

Places are chosen greedily city-wide (lazily re-scored: a place's gain only shrinks as others are chosen); the
report prints, per district, how many it gets and its best places."""

from __future__ import annotations

import bisect
import heapq
import math
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from aed.domain.policy import DispatchPolicy
from aed.settings import AedSettings
from servicekit import geo
from sim.params import Assumptions
from sim.rescue import draw_arrests, simulate
from sim.world import District

CELL_M = 1000.0
# ASSUMPTION: the share of trained responders on duty (app open, position shared) at a given moment.
ON_DUTY_SHARE = 0.2


@dataclass
class _Case:
    """A simulated arrest as the planner needs it."""

    point: geo.Point
    weight: float  # arrests a year it stands for
    aed_s: float  # time to first AED, updated as places are chosen
    ems_s: float
    slots: list = field(default_factory=list)
    first_accept_s: float = math.inf
    aed_points: list = field(default_factory=list)  # AEDs usable at the time, with new ones added
    responder_distances: list[float] = field(default_factory=list)  # those on duty around it, nearest first


def _cases(district: District, assumptions: Assumptions, rng: random.Random, count: int, policy: DispatchPolicy):
    arrests = draw_arrests(district, assumptions, count, rng=rng, widest_m=policy.radius_m)
    per_year = district.population * assumptions.arrests_per_100k_year / 100_000
    cases = []
    for arrest in arrests:
        outcome = simulate(arrest, policy, assumptions)
        cases.append(
            _Case(
                arrest.point,
                per_year / count,
                outcome.first_aed_s,
                outcome.ems_s,
                list(outcome.slots),
                outcome.first_accept_s,
                [a.point for a in arrest.aeds],
                [r.distance_m for r in arrest.responders],
            )
        )
    return cases


def _aed_gain(case: _Case, place: geo.Point, policy: DispatchPolicy, assumptions: Assumptions) -> float:
    to_patient = geo.distance_m(place, case.point)
    if to_patient > policy.radius_m:
        return 0.0
    best = case.aed_s
    for slot in case.slots:
        path = geo.distance_m(slot.responder.point, place) + to_patient
        detour = path - slot.responder.distance_m
        if (
            path <= policy.fetch_max_path_m
            and detour <= policy.fetch_max_detour_m
            and path < slot.path_m
            and slot.responder.arrives
        ):
            walk = assumptions.detour / slot.responder.speed_m_s
            best = min(best, slot.accepted_at_s + walk * path + assumptions.retrieve_s)
    return max(0.0, case.aed_s - best) * case.weight


def _responder_gain(case: _Case, place: geo.Point, policy: DispatchPolicy, assumptions: Assumptions) -> float:
    distance = geo.distance_m(place, case.point)
    if distance > policy.radius_m:
        return 0.0
    # Alerted with the wave its rank among those on duty around the patient puts it in (the first wave takes as
    # many as an incident needs), if nobody had accepted by then.
    rank = bisect.bisect(case.responder_distances, distance)
    first = max(policy.wave_size, policy.needed)
    wave = 0 if rank < first else 1 + (rank - first) // policy.wave_size
    accepted_at = wave * policy.wave_interval_s + assumptions.seen_median_s + assumptions.answer_median_s
    if accepted_at >= case.first_accept_s:
        return 0.0  # someone else took the fetch
    walk = assumptions.detour / assumptions.speed_mean_m_s
    paths = [geo.distance_m(place, a) + geo.distance_m(a, case.point) for a in case.aed_points]
    usable = [p for p in paths if p <= policy.fetch_max_path_m and p - distance <= policy.fetch_max_detour_m]
    path = min(usable, default=math.inf)
    if math.isinf(path):
        return 0.0
    there = accepted_at + walk * path + assumptions.retrieve_s
    return assumptions.arrived * max(0.0, case.aed_s - min(there, case.ems_s)) * case.weight


def _greedy(
    candidates: list[geo.Point],
    cases_near: Callable[[geo.Point], list[_Case]],
    gain: Callable[[_Case, geo.Point], float],
    budget: int,
    apply: Callable[[geo.Point], None],
) -> list[tuple[geo.Point, float]]:
    """Lazy greedy: the best place, re-scored against the places chosen since it was last scored."""
    heap = [(-sum(gain(c, p) for c in cases_near(p)), i, p, 0) for i, p in enumerate(candidates)]
    heapq.heapify(heap)
    chosen: list[tuple[geo.Point, float]] = []
    round_ = 0
    while heap and len(chosen) < budget:
        score, i, place, scored = heapq.heappop(heap)
        if scored != round_:
            heapq.heappush(heap, (-sum(gain(c, place) for c in cases_near(place)), i, place, round_))
            continue
        if -score <= 0:
            break
        chosen.append((place, -score))
        apply(place)
        round_ += 1
    return chosen


def report(
    district: District,
    assumptions: Assumptions,
    rng: random.Random,
    *,
    arrests: int,
    aeds: int,
    responders: int,
    top: int,
) -> str:
    policy = DispatchPolicy.of(AedSettings())
    cases = _cases(district, assumptions, rng, arrests, policy)
    buckets: dict[tuple[int, int], list[_Case]] = defaultdict(list)

    def key(point: geo.Point) -> tuple[int, int]:
        return (int(point.lat * 111_320 // CELL_M), int(point.lon * 85_000 // CELL_M))

    for case in cases:
        buckets[key(case.point)].append(case)

    def near(place: geo.Point) -> list[_Case]:
        y, x = key(place)
        return [c for dy in (-1, 0, 1) for dx in (-2, -1, 0, 1, 2) for c in buckets.get((y + dy, x + dx), [])]

    candidates = list(district.grid(CELL_M))
    baseline = sum(c.aed_s * c.weight for c in cases) / sum(c.weight for c in cases)

    def add_aed(place: geo.Point) -> None:
        for case in near(place):
            saved = _aed_gain(case, place, policy, assumptions) / case.weight if case.weight else 0.0
            case.aed_s -= saved
            if geo.distance_m(place, case.point) <= policy.radius_m:
                case.aed_points.append(place)

    new_aeds = _greedy(candidates, near, lambda c, p: _aed_gain(c, p, policy, assumptions), aeds, add_aed)

    batch = max(1, round(10 * ON_DUTY_SHARE))  # ten trained responders at a time: this many on duty

    def add_responders(place: geo.Point) -> None:
        for case in near(place):
            case.aed_s -= batch * _responder_gain(case, place, policy, assumptions) / case.weight

    new_responders = _greedy(
        candidates,
        near,
        lambda c, p: batch * _responder_gain(c, p, policy, assumptions),
        max(1, responders // 10),
        add_responders,
    )
    after = sum(c.aed_s * c.weight for c in cases) / sum(c.weight for c in cases)
    lines = [
        f"{district.name}区 — {len(district.aeds)} AEDs now; mean time to first AED {baseline / 60:.1f} min "
        f"→ {after / 60:.1f} min with {len(new_aeds)} more AEDs and {10 * len(new_responders)} more trained responders",
        f"  next AEDs (minutes saved a year), {len(new_aeds)} of {aeds}:",
    ]
    for place, saved in sorted(new_aeds, key=lambda x: -x[1])[:top]:
        wgs = geo.gcj02_to_wgs84(place)
        lines.append(f"    {wgs.lat:.4f}, {wgs.lon:.4f} (WGS-84)   {saved / 60:8.1f}")
    lines.append(
        f"  next trained responders, 10 per place (minutes saved a year), {10 * len(new_responders)} of {responders}:"
    )
    for place, saved in sorted(new_responders, key=lambda x: -x[1])[:top]:
        wgs = geo.gcj02_to_wgs84(place)
        lines.append(f"    {wgs.lat:.4f}, {wgs.lon:.4f} (WGS-84)   {saved / 60:8.1f}")
    return "\n".join(lines)
