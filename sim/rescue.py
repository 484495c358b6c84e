"""One cardiac arrest, simulated (SimPy) under a dispatch policy: the service's own rules in
`aed.domain.policy` decide whom to alert, when the next wave goes and who fetches an AED; the responders see,
answer and come (or not) as drawn for the arrest beforehand.

Every policy meets the same arrests: the place, the time, the ambulance's arrival and each responder around
with what they will do if alerted are drawn once per arrest (common random numbers), so a difference between
policies is the policies', not the dice's."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import simpy

from aed.domain import policy as rules
from aed.domain.lookup import BEIJING
from servicekit import geo
from sim.params import Assumptions
from sim.world import Aed, District, offset


@dataclass(frozen=True)
class Responder:
    key: str
    point: geo.Point
    distance_m: float  # straight line to the patient
    sees: bool
    seen_after_s: float
    answers_after_s: float
    accepts: bool
    arrives: bool  # of those who accept: comes at all
    speed_m_s: float


@dataclass(frozen=True)
class Arrest:
    number: int
    point: geo.Point
    at: datetime
    ems_after_s: float
    responders: tuple[Responder, ...]  # on duty within the widest radius compared, nearest first
    aeds: tuple[Aed, ...]  # usable now within the widest radius


@dataclass(frozen=True)
class FetchSlot:
    """An accepting responder the policy could send for an AED (one of the first `max_fetchers` to accept)."""

    responder: Responder
    accepted_at_s: float
    path_m: float  # responder → AED → patient of the AED they were sent for; inf when sent straight to the patient


@dataclass
class Outcome:
    first_cpr_s: float  # a responder at the patient, or the ambulance
    first_aed_s: float  # an AED at the patient (a fetching responder's, or the ambulance's)
    aed_before_ems: bool
    alerts: int
    ems_s: float
    slots: tuple[FetchSlot, ...] = ()  # for the planner: who would fetch a new AED nearby
    first_accept_s: float = math.inf


def draw_arrests(
    district: District, assumptions: Assumptions, count: int, *, rng: random.Random, widest_m: float
) -> list[Arrest]:
    """`count` arrests at residents' homes over one week, with everything about them drawn once."""
    on_duty_per_m2 = district.population * assumptions.on_duty_per_1000 / 1000 / (district.area_km2 * 1e6)
    expected = on_duty_per_m2 * math.pi * widest_m**2
    p_accept = assumptions.accepted / assumptions.seen
    p_arrive = assumptions.arrived / assumptions.accepted
    arrests = []
    start = datetime(2026, 11, 30, tzinfo=BEIJING)  # a Monday
    for number in range(count):
        point = district.random_point(rng)
        at = start + timedelta(seconds=rng.uniform(0, 7 * 86_400))
        responders = []
        for index in range(_poisson(rng, expected)):
            # Uniform over the disc around the patient: on-duty responders are where people are.
            radius, angle = widest_m * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi)
            spot = offset(point, radius * math.cos(angle), radius * math.sin(angle))
            sees = rng.random() < assumptions.seen
            accepts = sees and rng.random() < p_accept
            responders.append(
                Responder(
                    key=f"{number}-{index}",
                    point=spot,
                    distance_m=geo.distance_m(spot, point),
                    sees=sees,
                    seen_after_s=assumptions.seen_median_s * math.exp(rng.gauss(0, assumptions.seen_sigma)),
                    answers_after_s=assumptions.answer_median_s * math.exp(rng.gauss(0, 0.5)),
                    accepts=accepts,
                    arrives=accepts and rng.random() < p_arrive,
                    speed_m_s=max(0.8, rng.gauss(assumptions.speed_mean_m_s, assumptions.speed_sd_m_s)),
                )
            )
        responders.sort(key=lambda r: (r.distance_m, r.key))
        aeds = tuple(a for a in district.aeds if geo.distance_m(a.point, point) <= widest_m and a.open_at(at))
        ems = assumptions.ems_median_s * math.exp(rng.gauss(0, assumptions.ems_sigma))
        arrests.append(Arrest(number, point, at, ems, tuple(responders), aeds))
    return arrests


def _poisson(rng: random.Random, mean: float) -> int:
    if mean > 50:  # normal approximation: exact enough, and Knuth's method underflows
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


@dataclass
class _Incident:
    """The incident as the service holds it: each alerted responder's status and role."""

    status: dict[str, str] = field(default_factory=dict)  # sent / accepted / declined / cancelled
    fetching: dict[str, str] = field(default_factory=dict)  # responder → the AED they fetch
    slots: list[FetchSlot] = field(default_factory=list)
    first_accept_s: float = math.inf
    cpr_at: float = math.inf
    aed_at: float = math.inf


def simulate(arrest: Arrest, policy: rules.DispatchPolicy, assumptions: Assumptions) -> Outcome:
    env = simpy.Environment()
    incident = _Incident()
    candidates = [r for r in arrest.responders if r.distance_m <= policy.radius_m]
    options = [
        rules.AedOption(a.key, a.point, geo.distance_m(a.point, arrest.point))
        for a in arrest.aeds
        if geo.distance_m(a.point, arrest.point) <= policy.radius_m
    ]

    def counts() -> rules.AlertCounts:
        return rules.AlertCounts.of(incident.status.values())

    def alert(wave_due: bool) -> None:
        wanted = rules.responders_to_alert(policy, policy.needed, counts(), wave_due=wave_due)
        fresh = [r for r in candidates if r.key not in incident.status][:wanted]
        for responder in fresh:
            incident.status[responder.key] = "sent"
            env.process(respond(responder))

    def waves():
        while counts().accepted < policy.needed and len(incident.status) < len(candidates):
            alert(wave_due=True)
            yield env.timeout(policy.wave_interval_s)

    def respond(responder: Responder):
        if not responder.sees:
            return  # the alert stays unanswered: only the next wave moves on
        yield env.timeout(responder.seen_after_s + responder.answers_after_s)
        if incident.status[responder.key] != "sent":
            return  # cancelled meanwhile: enough accepted
        if not responder.accepts:
            incident.status[responder.key] = "declined"
            alert(wave_due=False)
            return
        incident.status[responder.key] = "accepted"
        incident.first_accept_s = min(incident.first_accept_s, env.now)
        slot_free = len(incident.fetching) < policy.max_fetchers
        job = rules.assign(policy, responder.point, arrest.point, fetching=incident.fetching.values(), aeds=options)
        if job.role == "fetch_aed" and job.aed is not None:
            incident.fetching[responder.key] = job.aed
        if slot_free and len(incident.slots) < policy.max_fetchers:
            incident.slots.append(FetchSlot(responder, env.now, job.path_m if job.path_m is not None else math.inf))
        if counts().accepted >= policy.needed:
            for key, status in incident.status.items():
                if status == "sent":
                    incident.status[key] = "cancelled"
        if not responder.arrives:
            return
        # The service's own estimate of arrival, at this responder's pace.
        walking = rules.Walking(responder.speed_m_s, assumptions.detour, assumptions.retrieve_s)
        if job.role == "fetch_aed":
            there = env.now + walking.seconds(job.path_m or 0.0, via_aed=True)
            incident.aed_at = min(incident.aed_at, there)
        else:
            there = env.now + walking.seconds(responder.distance_m)
        incident.cpr_at = min(incident.cpr_at, there)

    env.process(waves())
    env.run(until=arrest.ems_after_s)
    return Outcome(
        first_cpr_s=min(incident.cpr_at, arrest.ems_after_s),
        first_aed_s=min(incident.aed_at, arrest.ems_after_s),
        aed_before_ems=incident.aed_at < arrest.ems_after_s,
        alerts=len(incident.status),
        ems_s=arrest.ems_after_s,
        slots=tuple(incident.slots),
        first_accept_s=incident.first_accept_s,
    )
