"""Figures against their floors. Every benchmark reports its figures here; `python -m bench` runs them all and
gathers what they reported (through the file named by BENCH_RESULTS) into one table."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

RESULTS_FILE = "BENCH_RESULTS"


@dataclass(frozen=True)
class Figure:
    bench: str
    figure: str  # what is measured
    result: str  # the measured value with its unit
    anchor: str  # what it is measured against, with its value
    ratio: float  # result / anchor
    floor: float
    at_most: bool = False  # the ratio must stay at or below the floor (a latency against its budget)

    @property
    def met(self) -> bool:
        return self.ratio <= self.floor if self.at_most else self.ratio >= self.floor

    @property
    def floor_text(self) -> str:
        return f"{'≤' if self.at_most else '≥'} {self.floor:g}"


def report(figure: Figure) -> None:
    print(f"  => {figure.figure}: {figure.ratio:.2f} (floor {figure.floor_text}) {'met' if figure.met else 'NOT MET'}")
    if path := os.environ.get(RESULTS_FILE):
        with open(path, "a") as f:
            f.write(json.dumps(asdict(figure), ensure_ascii=False) + "\n")


def read(path: str) -> list[Figure]:
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [Figure(**json.loads(line)) for line in f if line.strip()]
