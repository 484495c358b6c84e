"""The dispatch policy (调度策略): whom to alert and when, and which accepting responder fetches an AED first.

Pure functions over plain values, so that the service (`incidents.py`, inside its transactions) and the rescue
simulation (`sim/`, over thousands of simulated arrests) run the very same rules: a default chosen by the
simulation is the default the service runs. ADR 19 records the comparison and the defaults it chose."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from servicekit import geo


class _DispatchSettings(Protocol):
    incident_radius_m: int
    responders_needed: int
    wave_size: int
    wave_interval_s: float
    max_fetchers: int
    fetch_max_path_m: int
    fetch_max_detour_m: int


@dataclass(frozen=True)
class DispatchPolicy:
    radius_m: int  # responders and AEDs farther than this from the patient are not considered
    needed: int  # accepted responders an incident needs; when reached, pending alerts are cancelled
    wave_size: int  # responders alerted at once (the nearest not yet alerted)
    wave_interval_s: float  # how long a wave waits before the next is alerted
    max_fetchers: int  # accepting responders sent for an AED first, at most
    fetch_max_path_m: int  # ... when responder → AED → patient is at most this long
    fetch_max_detour_m: int  # ... and at most this much longer than going straight to the patient

    @classmethod
    def of(cls, settings: _DispatchSettings) -> DispatchPolicy:
        return cls(
            radius_m=settings.incident_radius_m,
            needed=settings.responders_needed,
            wave_size=settings.wave_size,
            wave_interval_s=settings.wave_interval_s,
            max_fetchers=settings.max_fetchers,
            fetch_max_path_m=settings.fetch_max_path_m,
            fetch_max_detour_m=settings.fetch_max_detour_m,
        )


@dataclass(frozen=True)
class AlertCounts:
    """An incident's alerts as the wave rule sees them."""

    sent: int  # alerted, not answered yet
    accepted: int

    @classmethod
    def of(cls, statuses: Iterable[str]) -> AlertCounts:
        seen = list(statuses)
        return cls(sent=seen.count("sent"), accepted=seen.count("accepted"))


def responders_to_alert(policy: DispatchPolicy, needed: int, alerts: AlertCounts, *, wave_due: bool) -> int:
    """How many more of the nearest responders to alert now. None once enough accepted. When a wave is due (the
    first, or the interval ran out) a whole wave, more if the shortfall is larger; between waves only when a
    decline left fewer responders engaged (pending or accepted) than needed, and then a whole wave too: a
    decline is a sign that the ones nearest are not coming."""
    engaged = alerts.sent + alerts.accepted
    if alerts.accepted >= needed:
        return 0
    if not wave_due and engaged >= needed:
        return 0
    return max(policy.wave_size, needed - engaged)


@dataclass(frozen=True)
class AedOption:
    """A usable AED near the patient: where it is and how far it is from the patient."""

    key: str
    point: geo.Point
    to_patient_m: float


@dataclass(frozen=True)
class Assignment:
    role: Literal["fetch_aed", "direct"]
    aed: str | None = None  # the AED's key when fetching
    path_m: float | None = None  # responder → AED → patient, straight lines


def assign(
    policy: DispatchPolicy,
    responder: geo.Point | None,
    patient: geo.Point,
    *,
    fetching: Iterable[str | None],
    aeds: Iterable[AedOption],
) -> Assignment:
    """An accepting responder fetches an AED first — the one minimising responder → AED → patient among those no
    one else is fetching — while fewer than `max_fetchers` are fetching, when that path is at most
    `fetch_max_path_m` and adds at most `fetch_max_detour_m` to their way; otherwise they go straight to the
    patient (CPR first: a fetch that costs the patient more than it brings is left to a better-placed responder
    or to the ambulance)."""
    taken = set(fetching)
    if len(taken) >= policy.max_fetchers or responder is None:
        return Assignment("direct")
    options = sorted((geo.distance_m(responder, a.point) + a.to_patient_m, a.key) for a in aeds if a.key not in taken)
    if not options:
        return Assignment("direct")
    path, key = options[0]
    if _fetch_allowed(policy, path, responder, patient):
        return Assignment("fetch_aed", key, path)
    return Assignment("direct")


def _fetch_allowed(policy: DispatchPolicy, path_m: float, responder: geo.Point, patient: geo.Point) -> bool:
    return (
        path_m <= policy.fetch_max_path_m and path_m - geo.distance_m(responder, patient) <= policy.fetch_max_detour_m
    )


@dataclass(frozen=True)
class HandOver:
    responder: str
    path_m: float


def hand_over(
    policy: DispatchPolicy, aed: AedOption, patient: geo.Point, going_direct: Mapping[str, geo.Point]
) -> HandOver | None:
    """A freed AED (its fetcher withdrew) goes to the responder already heading to the patient whose way through
    it is shortest, within the same limits as a first assignment; None leaves it to the ambulance."""
    options = sorted(
        (geo.distance_m(point, aed.point) + aed.to_patient_m, key, point) for key, point in going_direct.items()
    )
    return next(
        (HandOver(key, path) for path, key, point in options if _fetch_allowed(policy, path, point, patient)), None
    )


@dataclass(frozen=True)
class Walking:
    """How fast a responder gets there on foot: their pace, streets longer than a straight line, and the time to
    take an AED from its cabinet. The estimated arrival shown to the caller, 120 and staff; the rescue
    simulation draws each responder's pace around the same mean."""

    speed_m_s: float
    detour: float
    retrieve_s: float

    @classmethod
    def of(cls, settings: _WalkingSettings) -> Walking:
        return cls(settings.responder_speed_m_s, settings.street_detour, settings.retrieve_s)

    def seconds(self, straight_m: float, *, via_aed: bool = False) -> float:
        """On foot over `straight_m` of straight lines (responder → patient, or responder → AED → patient)."""
        return straight_m * self.detour / self.speed_m_s + (self.retrieve_s if via_aed else 0.0)


class _WalkingSettings(Protocol):
    responder_speed_m_s: float
    street_detour: float
    retrieve_s: float
