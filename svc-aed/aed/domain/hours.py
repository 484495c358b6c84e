"""Opening hours in OpenStreetMap's `opening_hours` syntax (the subset AED registries use), e.g.
`24/7`, `Mo-Fr 07:30-18:00; Sa 09:00-12:00; PH off`, `Mo-Su 22:00-02:00` (past midnight), `Su off`.

Parsed into weekly intervals (ISO weekday, opens, closes; closes <= opens means the interval runs past
midnight into the next day, `24:00` means the end of the day), whether the device is always open, and
whether it is closed on public holidays. Whether a device is open at a moment is decided in the database
(aed.db.devices) from these rows, in Beijing time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time

DAYS = ["Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"]
_TIME = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


class OpeningHoursError(ValueError):
    pass


@dataclass(frozen=True)
class Interval:
    weekday: int  # 1 = Monday
    opens: time
    closes: time


@dataclass(frozen=True)
class OpeningHours:
    always_open: bool
    closed_on_holidays: bool
    intervals: tuple[Interval, ...]


def _days(spec: str) -> list[int]:
    days: list[int] = []
    for part in spec.split(","):
        ends = part.split("-")
        if not all(e in DAYS for e in ends) or len(ends) > 2:
            raise OpeningHoursError(f"unknown day(s) '{part}' (use Mo Tu We Th Fr Sa Su)")
        first, last = DAYS.index(ends[0]), DAYS.index(ends[-1])
        span = range(first, last + 1) if first <= last else [*range(first, 7), *range(0, last + 1)]
        days += [d + 1 for d in span]
    return days


def _time(text: str) -> time:
    match = _TIME.match(text)
    if not match or (match.group(1) == "24" and match.group(2) != "00"):
        raise OpeningHoursError(f"bad time '{text}' (HH:MM, 00:00-24:00)")
    return time(0, 0) if match.group(1) == "24" else time(int(match.group(1)), int(match.group(2)))


def parse(text: str) -> OpeningHours:
    spec = " ".join(text.split())
    if not spec:
        raise OpeningHoursError("empty opening hours")
    if spec == "24/7":
        return OpeningHours(True, False, ())
    closed_on_holidays, intervals = False, dict[tuple[int, time], Interval]()
    for rule in (r.strip() for r in spec.split(";") if r.strip()):
        if rule == "PH off":
            closed_on_holidays = True
            continue
        if rule == "24/7":
            raise OpeningHoursError("24/7 cannot be combined with other rules")
        days_spec, _, times_spec = rule.partition(" ")
        days = _days(days_spec)
        if times_spec == "off":
            for day in days:
                intervals = {k: v for k, v in intervals.items() if k[0] != day}
            continue
        if not times_spec:
            raise OpeningHoursError(f"'{rule}' names days but no hours")
        for span in times_spec.replace(" ", "").split(","):
            opens_text, dash, closes_text = span.partition("-")
            if not dash:
                raise OpeningHoursError(f"bad time range '{span}' (HH:MM-HH:MM)")
            opens, closes = _time(opens_text), _time(closes_text)
            if opens == closes and closes_text != "24:00":
                raise OpeningHoursError(f"empty time range '{span}'")
            for day in days:
                intervals[(day, opens)] = Interval(day, opens, closes)
    if not intervals:
        raise OpeningHoursError(
            "no opening hours at all (use 'Mo-Su off' only for a device never open? say status instead)"
        )
    return OpeningHours(
        False, closed_on_holidays, tuple(sorted(intervals.values(), key=lambda i: (i.weekday, i.opens)))
    )


def open_at(hours: OpeningHours, at: datetime, *, holiday: bool = False) -> bool:
    """Whether the hours are open at a Beijing-time moment: the same rule the lookup's SQL applies (an interval
    whose close is not after its opening runs past midnight into the next day)."""
    if hours.always_open:
        return True
    if holiday and hours.closed_on_holidays:
        return False
    now, today = at.time().replace(tzinfo=None), at.isoweekday()
    yesterday = 7 if today == 1 else today - 1
    for i in hours.intervals:
        overnight = i.closes <= i.opens
        if i.weekday == today and i.opens <= now and (i.closes > now or overnight):
            return True
        if i.weekday == yesterday and overnight and i.closes > now:
            return True
    return False
