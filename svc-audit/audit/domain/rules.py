"""The fraud rules (DOMAIN.md, supervision). Each is evaluated when a fact arrives, over the facts known so
far, and yields findings: a rule, a pattern key (who), a severity, the evidence (event ids).

Determinism: rules read only the events' own times, and a finding depends only on the set of facts, never
on the order they arrived in — a window is judged when its last member arrives, and alerts keep the union
of their evidence (sets), the highest severity and the earliest/latest times. Rebuilding the audit database
from the start of the topics therefore yields the same alerts.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from audit.db import facts
from audit.db.facts import Gift, Service
from audit.settings import RuleThresholds

BEIJING = ZoneInfo("Asia/Shanghai")
LOW, MEDIUM, HIGH = 1, 2, 3
T = TypeVar("T")


@dataclass(frozen=True)
class Finding:
    rule: str
    key: str
    severity: int
    district: str | None
    people: tuple[uuid.UUID, ...]
    institution_id: uuid.UUID | None
    evidence: tuple[uuid.UUID, ...]
    request_ids: tuple[uuid.UUID, ...]
    first_at: datetime
    last_at: datetime
    summary: str


def _finding(
    rule: str,
    key: str,
    severity: int,
    summary: str,
    *,
    district: str | None,
    people: Iterable[uuid.UUID],
    services: Sequence[Service] = (),
    gifts: Sequence[Gift] = (),
) -> Finding:
    times = [s.checked_in_at for s in services] + [g.at for g in gifts]
    return Finding(
        rule=rule,
        key=key,
        severity=severity,
        district=district,
        people=tuple(sorted(set(people))),
        institution_id=min((s.institution_id for s in services if s.institution_id), default=None),
        evidence=tuple(sorted({s.event_id for s in services} | {g.event_id for g in gifts})),
        request_ids=tuple(sorted({s.request_id for s in services})),
        first_at=min(times),
        last_at=max(times),
        summary=summary,
    )


def _two_volunteers_at_least(minimum: int, window: list[Service]) -> bool:
    """A window of two-way service: at least `minimum` services, between exactly two volunteers."""
    return len(window) >= minimum and len({s.volunteer_id for s in window}) == 2


def qualifying_windows(
    item: T, items: Sequence[T], *, at: Callable[[T], datetime], span: timedelta, qualifies: Callable[[list[T]], bool]
) -> list[list[T]]:
    """Every window [start, start + span] that contains `item` and qualifies, with its members (`items`
    sorted by time and covering `item`'s time ± span)."""
    windows = []
    for start in items:
        if not at(start) <= at(item) <= at(start) + span:
            continue
        window = [x for x in items if at(start) <= at(x) <= at(start) + span]
        if qualifies(window):
            windows.append(window)
    return windows


def members(windows: list[list[T]], *, at: Callable[[T], datetime]) -> list[T]:
    """The union of the windows' members, in time order."""
    union = {id(x): x for window in windows for x in window}
    return sorted(union.values(), key=lambda x: (at(x), str(getattr(x, "event_id", ""))))


def windows_holding(
    item: T, items: Sequence[T], *, at: Callable[[T], datetime], span: timedelta, qualifies: Callable[[list[T]], bool]
) -> list[T]:
    """Members of every window [start, start + span] that contains `item` and qualifies."""
    return members(qualifying_windows(item, items, at=at, span=span, qualifies=qualifies), at=at)


# --- on recorded services -------------------------------------------------------------------------------


async def on_services(
    session: AsyncSession, after: int, upto: int, default: RuleThresholds, districts: dict[str, RuleThresholds]
) -> list[Finding]:
    """Findings for the services of trail records (after, upto] (all of a range at once), with
    `districts`' thresholds where they differ from `default`. PostgreSQL picks out the services a rule may
    fire on; the rules below decide."""

    def limits_of(district: str | None) -> RuleThresholds:
        return districts.get(district or "", default)

    known = await facts.services_to_judge(session, after, upto, default, districts, zone=BEIJING.key)
    found: list[Finding] = []
    for service, others in known.overlapping:
        # the same volunteer in several services at once (also offline-recorded)
        v = service.volunteer_id
        found.append(
            _finding(
                "overlapping_services",
                f"volunteer:{v}",
                HIGH,
                "同一志愿者在同一时段参与多项服务",
                district=service.district,
                people=[v],
                services=[service, *others],
            )
        )
    for service, between in known.between:
        limits = limits_of(service.district)
        windows = qualifying_windows(
            service,
            between,
            at=lambda s: s.checked_in_at,
            span=timedelta(days=limits.two_way_window_days),
            qualifies=partial(_two_volunteers_at_least, limits.two_way_min_services),
        )
        if windows:
            # High when one window holds twice the minimum: a window's size is a fact of the set of services
            # (its last member, judged last, sees it whole), where the union of the windows around a
            # service depends on which services were known when it was judged.
            a, b = sorted((service.volunteer_id, service.elder_id))
            found.append(
                _finding(
                    "two_way_service",
                    f"pair:{a}:{b}",
                    HIGH if max(map(len, windows)) >= 2 * limits.two_way_min_services else MEDIUM,
                    "高频双向服务：双方互相服务",
                    district=service.district,
                    people=[a, b],
                    services=members(windows, at=lambda s: s.checked_in_at),
                )
            )
    for service in known.suspects:
        found += single_service_rules(service, limits_of(service.district))
    return found


def single_service_rules(service: Service, limits: RuleThresholds) -> list[Finding]:
    found, v = [], service.volunteer_id
    if _at_night(service, limits) and not (service.night_item and limits.allow_documented_night_items):
        found.append(
            _finding(
                "late_night_service",
                f"volunteer:{v}",
                LOW,
                "异常深夜服务",
                district=service.district,
                people=[v, service.elder_id],
                services=[service],
            )
        )
    if max(service.check_in_distance_m or 0, service.check_out_distance_m or 0) >= limits.far_distance_m:
        found.append(
            _finding(
                "far_from_place",
                f"volunteer:{v}",
                LOW,
                "签到/签出位置距服务地点过远",
                district=service.district,
                people=[v],
                services=[service],
            )
        )
    span_hours = (service.checked_out_at - service.checked_in_at).total_seconds() / 3600
    if service.minutes < limits.min_service_minutes or span_hours > limits.max_span_hours:
        found.append(
            _finding(
                "implausible_duration",
                f"volunteer:{v}",
                MEDIUM,
                "服务时长不合常理",
                district=service.district,
                people=[v],
                services=[service],
            )
        )
    return found


def _at_night(service: Service, limits: RuleThresholds) -> bool:
    def night(at: datetime) -> bool:
        hour = at.astimezone(BEIJING).hour
        return hour >= limits.night_starts_hour or hour < limits.night_ends_hour

    return night(service.checked_in_at) or night(service.checked_out_at)


# --- on gifts -------------------------------------------------------------------------------------------


async def on_gifts(session: AsyncSession, gifts: list[Gift], limits: RuleThresholds) -> list[Finding]:
    """Findings for newly recorded gifts. Coins are valid city-wide, so gift rules use the city-wide
    thresholds; an alert's district is the least known district of its people (completed as residences
    arrive, see alerts.residence_known), so it does not depend on arrival order either."""
    found: list[Finding] = []
    window = timedelta(days=limits.gift_window_days)
    spans = [int(window.total_seconds())] * len(gifts)
    around = await facts.gifts_around(session, gifts, spans_s=spans)
    chains = await facts.chained_gifts(session, gifts, [limits.gift_chain_hours * 3600] * len(gifts))
    for position, gift in enumerate(gifts, start=1):
        for side, person in (("from", gift.from_id), ("to", gift.to_id)):
            frequent = windows_holding(
                gift,
                around[side].get(position, []),
                at=lambda g: g.at,
                span=window,
                qualifies=lambda w: (
                    len(w) > limits.gift_max_count or sum(g.amount for g in w) > limits.gift_max_minutes
                ),
            )
            if frequent:
                found.append(
                    _finding(
                        "frequent_gifting",
                        f"{side}:{person}",
                        MEDIUM,
                        "时间币频繁赠出" if side == "from" else "频繁接受时间币赠予",
                        district=None,
                        people=[person],
                        gifts=frequent,
                    )
                )
        for earlier, later in chains.get(position, []):
            found.append(
                _finding(
                    "gift_chain",
                    f"via:{earlier.to_id}",
                    MEDIUM,
                    "时间币连续转赠（A→B→C）",
                    district=None,
                    people=[earlier.from_id, earlier.to_id, later.to_id],
                    gifts=[earlier, later],
                )
            )
    if not found:
        return found
    districts = await facts.districts_of(session, [p for f in found for p in f.people])
    return [replace(f, district=min((districts[p] for p in f.people if p in districts), default=None)) for f in found]
