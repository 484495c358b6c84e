"""The simulated district: its outline (the console's offline map of Beijing's 16 districts), its residents at
the district's census population spread over that outline, its AEDs (the registry's export, or a stated
assumption) and the trained responders on duty around a patient."""

from __future__ import annotations

import csv
import json
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from aed.domain import hours
from aed.settings import DISTRICT_POPULATION
from contracts.districts import DISTRICTS
from servicekit import geo
from sim.params import Assumptions

OUTLINES = Path(__file__).resolve().parents[1] / "console" / "src" / "assets" / "beijing-districts.json"
EARTH_M_PER_DEG = 111_320.0
Ring = Sequence[tuple[float, float]]  # (lon, lat)


@dataclass(frozen=True)
class Aed:
    key: str
    point: geo.Point
    hours: hours.OpeningHours

    def open_at(self, at: datetime) -> bool:
        return hours.open_at(self.hours, at)


@dataclass
class District:
    code: str
    name: str
    population: int
    rings: list[Ring]  # outer rings of its polygons
    aeds: list[Aed]

    @property
    def area_km2(self) -> float:
        return sum(_ring_area_m2(r) for r in self.rings) / 1e6

    def contains(self, point: geo.Point) -> bool:
        return any(_inside(point.lon, point.lat, ring) for ring in self.rings)

    def bounds(self) -> tuple[float, float, float, float]:
        lons = [x for ring in self.rings for x, _ in ring]
        lats = [y for ring in self.rings for _, y in ring]
        return min(lons), min(lats), max(lons), max(lats)

    def random_point(self, rng: random.Random) -> geo.Point:
        """A resident's home, uniform over the district: the census gives one density per district."""
        west, south, east, north = self.bounds()
        while True:
            point = geo.Point(rng.uniform(south, north), rng.uniform(west, east))
            if self.contains(point):
                return point

    def grid(self, step_m: float) -> Iterator[geo.Point]:
        """Cell centres `step_m` apart inside the district (candidate places for the planner)."""
        west, south, east, north = self.bounds()
        lat_step = step_m / EARTH_M_PER_DEG
        lat = south + lat_step / 2
        while lat < north:
            lon_step = step_m / (EARTH_M_PER_DEG * math.cos(math.radians(lat)))
            lon = west + lon_step / 2
            while lon < east:
                point = geo.Point(lat, lon)
                if self.contains(point):
                    yield point
                lon += lon_step
            lat += lat_step


def _inside(x: float, y: float, ring: Ring) -> bool:
    inside = False
    j = len(ring) - 1
    for i in range(len(ring)):
        xi, yi = ring[i]
        xj, yj = ring[j]
        if (yi > y) != (yj > y) and x < (xj - xi) * (y - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside


def _ring_area_m2(ring: Ring) -> float:
    lat0 = math.radians(sum(y for _, y in ring) / len(ring))
    pts = [(x * EARTH_M_PER_DEG * math.cos(lat0), y * EARTH_M_PER_DEG) for x, y in ring]
    return abs(sum(a[0] * b[1] - b[0] * a[1] for a, b in zip(pts, pts[1:] + pts[:1], strict=True))) / 2


def _outlines() -> dict[str, list[Ring]]:
    shapes: dict[str, list[Ring]] = {}
    for feature in json.loads(OUTLINES.read_text(encoding="utf-8"))["features"]:
        geometry = feature["geometry"]
        polygons = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
        shapes[feature["properties"]["name"]] = [[(p[0], p[1]) for p in polygon[0]] for polygon in polygons]
    return shapes


def load(code: str, assumptions: Assumptions, rng: random.Random, registry: Path | None = None) -> District:
    """The district with its AEDs: those of a registry export (`GET /api/v1/aeds/registry/export?format=csv`)
    in the district and not removed, or, without one, the assumed number placed uniformly."""
    name = DISTRICTS[code]
    rings = _outlines()[name + "区"]
    district = District(code, name, DISTRICT_POPULATION[code], rings, [])
    if registry is not None:
        district.aeds = list(_registry_aeds(registry, district))
    else:
        always, office = hours.parse("24/7"), hours.parse("Mo-Fr 08:00-18:00")
        count = round(district.population * assumptions.aeds_per_1000 / 1000)
        district.aeds = [
            Aed(
                f"assumed-{i}",
                district.random_point(rng),
                always if rng.random() < assumptions.aeds_always_open else office,
            )
            for i in range(count)
        ]
    return district


def _registry_aeds(path: Path, district: District) -> Iterator[Aed]:
    with path.open(encoding="utf-8-sig", newline="") as file:
        for row in csv.DictReader(file):
            if row["状态"] == "removed":
                continue
            # The outlines are drawn in GCJ-02 (the console's map); the simulation works in it throughout.
            point = geo.wgs84_to_gcj02(geo.Point(float(row["纬度(WGS-84)"]), float(row["经度(WGS-84)"])))
            if district.contains(point):
                yield Aed(row["序列号"], point, hours.parse(row["开放时间"]))


def offset(point: geo.Point, east_m: float, north_m: float) -> geo.Point:
    lat = point.lat + north_m / EARTH_M_PER_DEG
    return geo.Point(lat, point.lon + east_m / (EARTH_M_PER_DEG * math.cos(math.radians(point.lat))))
