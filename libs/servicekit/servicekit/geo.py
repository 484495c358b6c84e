"""Positions: GCJ-02 (the "Mars" datum Chinese maps and WeChat's `wx.getLocation({type: 'gcj02'})` return) is
converted to WGS-84 on the way in; everything stored and compared is WGS-84.

GCJ-02 is a published forward obfuscation of WGS-84 with no closed-form inverse; the inverse here iterates
the forward transform until the round trip agrees to 1e-9 degrees (sub-millimetre), unlike the common
one-step approximation which is off by metres.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

CoordSystem = Literal["wgs84", "gcj02"]

_A = 6378245.0  # Krasovsky 1940 semi-major axis, as GCJ-02 uses
_EE = 0.00669342162296594323
EARTH_RADIUS_M = 6_371_008.8  # mean radius; the search uses earthdistance's own (6378168 m) consistently

# Beijing's administrative area lies within this box (WGS-84); anything outside is refused.
BEIJING_LAT = (39.40, 41.10)
BEIJING_LON = (115.40, 117.55)


@dataclass(frozen=True)
class Point:
    lat: float
    lon: float


def _offset(lat: float, lon: float) -> tuple[float, float]:
    x, y = lon - 105.0, lat - 35.0
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
            + (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
            + (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
            + (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0)
    dlon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
            + (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
            + (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
            + (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0)
    rad = lat / 180.0 * math.pi
    magic = 1 - _EE * math.sin(rad) ** 2
    sqrt_magic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrt_magic) * math.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * math.cos(rad) * math.pi)
    return dlat, dlon


def wgs84_to_gcj02(point: Point) -> Point:
    dlat, dlon = _offset(point.lat, point.lon)
    return Point(point.lat + dlat, point.lon + dlon)


def gcj02_to_wgs84(point: Point) -> Point:
    guess = Point(point.lat, point.lon)
    for _ in range(30):
        there = wgs84_to_gcj02(guess)
        dlat, dlon = there.lat - point.lat, there.lon - point.lon
        if abs(dlat) < 1e-9 and abs(dlon) < 1e-9:
            break
        guess = Point(guess.lat - dlat, guess.lon - dlon)
    return guess


def to_wgs84(lat: float, lon: float, system: CoordSystem) -> Point:
    return gcj02_to_wgs84(Point(lat, lon)) if system == "gcj02" else Point(lat, lon)


def in_beijing(point: Point) -> bool:
    return BEIJING_LAT[0] <= point.lat <= BEIJING_LAT[1] and BEIJING_LON[0] <= point.lon <= BEIJING_LON[1]


def distance_m(a: Point, b: Point) -> float:
    """Great-circle (haversine) distance in metres."""
    p1, p2 = math.radians(a.lat), math.radians(b.lat)
    dp, dl = p2 - p1, math.radians(b.lon - a.lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))
