"""GCJ-02 → WGS-84 against published reference pairs, and the recorded-minutes rule."""

from datetime import UTC, datetime, timedelta

import pytest

from matching.domain.attendance import recorded_minutes
from servicekit import geo

# (WGS-84, GCJ-02) pairs from eviltransform's and coordtransform's test suites.
REFERENCE = [
    ((39.911954, 116.377817), (39.91334545536069, 116.38404722455657)),  # Beijing, eviltransform
    ((39.915, 116.404), (39.91640428150164, 116.41024449916938)),  # Tiananmen, coordtransform
    ((31.1774276, 121.5272106), (31.17530398364597, 121.531541859215)),  # Shanghai, eviltransform
]


@pytest.mark.parametrize(("wgs", "gcj"), REFERENCE)
def test_gcj02_input_lands_on_the_published_wgs84_point(wgs, gcj):
    there = geo.wgs84_to_gcj02(geo.Point(*wgs))
    assert geo.distance_m(there, geo.Point(*gcj)) < 0.01
    back = geo.to_wgs84(gcj[0], gcj[1], "gcj02")
    assert geo.distance_m(back, geo.Point(*wgs)) < 0.01  # the one-step inverse is off by metres; this is not


def test_the_offset_in_beijing_is_hundreds_of_metres_so_converting_matters():
    assert 400 < geo.distance_m(geo.Point(39.915, 116.404), geo.to_wgs84(39.915, 116.404, "gcj02")) < 700


def test_beijing_bounds():
    assert geo.in_beijing(geo.Point(39.9042, 116.4074))
    assert geo.in_beijing(geo.Point(40.45, 115.97))  # 延庆
    assert not geo.in_beijing(geo.Point(31.23, 121.47))  # 上海
    assert not geo.in_beijing(geo.Point(39.13, 117.20))  # 天津


T = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("signed_in", "signed_out", "expected"),
    [
        (0, 120, 120),  # on time
        (-25, 120, 120),  # early arrival is not counted
        (10, 95.9, 85),  # rounded down to the whole minute
        (0, 200, 120),  # staying beyond the window is not counted
        (130, 140, 0),  # entirely after the window
    ],
)
def test_recorded_minutes(signed_in, signed_out, expected):
    start, end = T, T + timedelta(minutes=120)
    assert recorded_minutes(T + timedelta(minutes=signed_in), T + timedelta(minutes=signed_out), start, end) == expected
