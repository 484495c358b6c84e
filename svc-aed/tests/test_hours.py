"""OpenStreetMap opening-hours syntax, the subset AED registries use."""

from datetime import time

import pytest

from aed.domain.hours import OpeningHoursError, parse


def test_weekdays_saturday_and_public_holidays():
    hours = parse("Mo-Fr 07:30-18:00; Sa 09:00-12:00; PH off")
    assert not hours.always_open and hours.closed_on_holidays
    assert [(i.weekday, i.opens, i.closes) for i in hours.intervals][-2:] == [
        (5, time(7, 30), time(18, 0)),
        (6, time(9), time(12)),
    ]
    assert len(hours.intervals) == 6


def test_past_midnight_wrapping_day_ranges_and_off():
    hours = parse("Sa-Mo 20:00-02:00; Su off")
    assert [(i.weekday, i.opens, i.closes) for i in hours.intervals] == [(1, time(20), time(2)), (6, time(20), time(2))]
    assert parse("Mo-Su 08:00-24:00").intervals[0].closes == time(0)
    assert parse("24/7").always_open


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "Mon-Fri 08:00-18:00",
        "Mo-Fr 8-18",
        "Mo-Fr 25:00-26:00",
        "Mo 08:00-08:00",
        "Mo-Fr",
        "24/7; PH off",
        "Mo-Su off",
    ],
)
def test_refused(bad):
    with pytest.raises(OpeningHoursError):
        parse(bad)
