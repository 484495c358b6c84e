"""What the rescue simulation assumes, each figure with where it comes from. A figure marked ASSUMPTION has no
published Beijing source we could check; change it here when 120 or the districts give the real one."""

from __future__ import annotations

from dataclasses import dataclass

from aed.settings import AedSettings

_SERVICE = AedSettings()


@dataclass(frozen=True)
class Assumptions:
    # Out-of-hospital cardiac arrests treated by EMS in China: 97.1 per 100,000 people a year (BASIC-OHCA
    # registry, Zheng et al., Lancet Public Health 2023). Used to turn alerts per arrest into alerts a
    # responder receives a year (alert fatigue), not for the per-arrest figures.
    arrests_per_100k_year: float = 97.1

    # Of alerted responders: 75.6 % see the alert, 37.7 % accept, 27.1 % arrive (the shares issue 22 quotes
    # from a published app-based responder system). Each is a share of all alerted; the model draws them in turn.
    seen: float = 0.756
    accepted: float = 0.377
    arrived: float = 0.271

    # ASSUMPTION: a seen alert is seen after a median 20 s (lognormal, σ 0.8) and answered 10 s later (median).
    seen_median_s: float = 20.0
    seen_sigma: float = 0.8
    answer_median_s: float = 10.0

    # The service's walking model (the arrival it estimates; aed.settings): a responder hurrying on foot mixes
    # walking (1.2-1.4 m/s) and running: mean 2.0 m/s, here with sd 0.4 (ASSUMPTION); streets are longer than a
    # straight line by a detour factor of 1.4 (urban road networks measure 1.2-1.4); taking the AED out of its
    # cabinet and leaving with it: 45 s (ASSUMPTION).
    speed_mean_m_s: float = _SERVICE.responder_speed_m_s
    speed_sd_m_s: float = 0.4
    detour: float = _SERVICE.street_detour
    retrieve_s: float = _SERVICE.retrieve_s

    # 120's ambulance arrives about 12 minutes after the call on average (Beijing Daily, 2023, via
    # visitbeijing.com.cn: "平均约12分钟"). The spread is an ASSUMPTION: lognormal with σ 0.45 and a median of
    # 10.8 min, which gives that mean (p90 ≈ 19 min). Replace with 120's own distribution for the district.
    ems_median_s: float = 650.0
    ems_sigma: float = 0.45

    # ASSUMPTION: trained first-aid responders on duty at any moment, per 1,000 residents.
    on_duty_per_1000: float = 0.5

    # Used when no registry file is given: nearly 7,000 AEDs in Beijing's main public places (Beijing Daily,
    # 2023) for 21.9 million residents is 0.32 per 1,000, placed uniformly over the district. The share open
    # around the clock is an ASSUMPTION (the rest schools and offices, open Mo-Fr 08:00-18:00).
    aeds_per_1000: float = 0.32
    aeds_always_open: float = 0.4


DEFAULT = Assumptions()
