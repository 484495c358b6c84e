"""Positions: GCJ-02 (the "Mars" datum Chinese maps and WeChat's `wx.getLocation({type: 'gcj02'})` return) is
converted to WGS-84 on the way in; everything stored and compared is WGS-84.

GCJ-02 is a published forward obfuscation of WGS-84 with no closed-form inverse; the inverse here iterates
the forward transform until the round trip agrees to 1e-9 degrees (sub-millimetre), unlike the common
one-step approximation which is off by metres.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Query
from pydantic import BaseModel, Field, model_validator
from pydantic_core import PydanticCustomError

from servicekit.errors import UnprocessableInput, problem_for_error_code

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
    dlat = (
        -100.0
        + 2.0 * x
        + 3.0 * y
        + 0.2 * y * y
        + 0.1 * x * y
        + 0.2 * math.sqrt(abs(x))
        + (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
        + (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
        + (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    )
    dlon = (
        300.0
        + x
        + 2.0 * y
        + 0.1 * x * x
        + 0.1 * x * y
        + 0.1 * math.sqrt(abs(x))
        + (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
        + (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
        + (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    )
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
    """The WGS-84 point a client's coordinates name; coordinates that are not on the Earth raise ValueError.
    GCJ-02 is defined within China only (outside it, as in every published implementation, the two agree):
    applied far away the transform divides by cos(lat) and fails at a pole."""
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):  # also false for NaN
        raise ValueError("latitude must lie in [-90, 90] and longitude in [-180, 180]")
    if system == "gcj02" and in_china(Point(lat, lon)):
        return gcj02_to_wgs84(Point(lat, lon))
    return Point(lat, lon)


def in_china(point: Point) -> bool:
    """The box within which GCJ-02 differs from WGS-84."""
    return 0.8293 <= point.lat <= 55.8271 and 72.004 <= point.lon <= 137.8347


def in_beijing(point: Point) -> bool:
    return BEIJING_LAT[0] <= point.lat <= BEIJING_LAT[1] and BEIJING_LON[0] <= point.lon <= BEIJING_LON[1]


def distance_m(a: Point, b: Point) -> float:
    """Great-circle (haversine) distance in metres."""
    p1, p2 = math.radians(a.lat), math.radians(b.lat)
    dp, dl = p2 - p1, math.radians(b.lon - a.lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


class OutsideBeijing(UnprocessableInput):
    type = "outside-beijing"
    title_zh, title_en = "位置不在北京市范围内", "The position is outside Beijing"


problem_for_error_code("outside_beijing", OutsideBeijing)


class Position(BaseModel):
    """A position as clients send it: WGS-84, or GCJ-02 as WeChat's `wx.getLocation` returns it; it must lie in
    Beijing (everything this system serves does)."""

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    coord_system: CoordSystem = "wgs84"

    @model_validator(mode="after")
    def _in_beijing(self) -> Position:
        if not in_beijing(self.wgs84()):
            raise PydanticCustomError("outside_beijing", "the position is outside Beijing (北京市)")
        return self

    def wgs84(self) -> Point:
        return to_wgs84(self.lat, self.lon, self.coord_system)


class PositionOut(BaseModel):
    """A stored position as answered."""

    lat: float
    lon: float
    coord_system: CoordSystem = "wgs84"


_NEAR = re.compile(r"^(-?\d{1,3}(?:\.\d{1,12})?),(-?\d{1,3}(?:\.\d{1,12})?)$")
NearQuery = Annotated[str, Query(pattern=_NEAR.pattern, max_length=40, description="LAT,LON (e.g. 39.9087,116.3975)")]


def near_point(near: str, system: CoordSystem) -> Point:
    """The WGS-84 point of a `near=LAT,LON` query, refused (422) unless it is a position in Beijing."""
    match = _NEAR.match(near)
    if match is None:
        raise UnprocessableInput("near 应为 纬度,经度", "near must be LAT,LON")
    try:
        point = to_wgs84(float(match.group(1)), float(match.group(2)), system)
    except ValueError:
        raise UnprocessableInput("坐标超出范围", "The coordinates are out of range") from None
    if not in_beijing(point):
        raise OutsideBeijing()
    return point
