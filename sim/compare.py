"""Dispatch policies compared on the same simulated arrests: time to first CPR and to first AED (p50/p90), the
share of arrests with an AED before the ambulance, and responder alerts per arrest (alert fatigue)."""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aed.domain.policy import DispatchPolicy
from aed.settings import AedSettings
from sim.params import Assumptions
from sim.rescue import Arrest, Outcome, simulate

EVERYONE = 100_000  # "alert everyone within the radius at once"


def policies() -> dict[str, DispatchPolicy]:
    """The service's defaults, the PulsePoint-style alternative (everyone within a radius at once, no one sent
    for an AED, nothing cancelled) and variants of each parameter."""
    current = DispatchPolicy.of(AedSettings())
    vary = dataclasses.replace
    everyone = vary(current, needed=EVERYONE, wave_size=EVERYONE, max_fetchers=0)
    return {
        "current defaults": current,
        "before ADR 19 (3 needed, 1 fetcher, any detour)": vary(
            current, needed=3, max_fetchers=1, fetch_max_detour_m=EVERYONE
        ),
        "alert all ≤400 m (PulsePoint)": vary(everyone, radius_m=400),
        "alert all ≤1000 m": everyone,
        "alert all ≤1000 m, fetchers": vary(current, wave_size=EVERYONE),
        "radius 500 m": vary(current, radius_m=500),
        "radius 1500 m": vary(current, radius_m=1500),
        "wave 5": vary(current, wave_size=5),
        "wave 10": vary(current, wave_size=10),
        "wave 10, interval 15 s": vary(current, wave_size=10, wave_interval_s=15),
        "interval 15 s": vary(current, wave_interval_s=15),
        "interval 60 s": vary(current, wave_interval_s=60),
        "no fetcher": vary(current, max_fetchers=0),
        "fetch path ≤1000 m": vary(current, fetch_max_path_m=1000),
        "fetch path ≤2000 m": vary(current, fetch_max_path_m=2000),
        "radius 1500 m, fetch ≤2500 m": vary(current, radius_m=1500, fetch_max_path_m=2500),
        "needed 5": vary(current, needed=5),
        "1 fetcher": vary(current, max_fetchers=1),
        "3 fetchers": vary(current, max_fetchers=3),
        "needed 3": vary(current, needed=3),
        "detour ≤400 m": vary(current, fetch_max_detour_m=400),
        "detour ≤800 m": vary(current, fetch_max_detour_m=800),
        "any detour": vary(current, fetch_max_detour_m=EVERYONE),
    }


@dataclass(frozen=True)
class Row:
    name: str
    policy: DispatchPolicy
    outcomes: list[Outcome]

    @staticmethod
    def _pct(values: Sequence[float], q: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    def cpr(self, q: float) -> float:
        return self._pct([o.first_cpr_s for o in self.outcomes], q)

    def aed(self, q: float) -> float:
        return self._pct([o.first_aed_s for o in self.outcomes], q)

    @property
    def aed_before_ems(self) -> float:
        return sum(o.aed_before_ems for o in self.outcomes) / len(self.outcomes)

    @property
    def alerts(self) -> float:
        return statistics.fmean(o.alerts for o in self.outcomes)


def run(arrests: Sequence[Arrest], assumptions: Assumptions, chosen: dict[str, DispatchPolicy]) -> list[Row]:
    return [Row(name, p, [simulate(a, p, assumptions) for a in arrests]) for name, p in chosen.items()]


def table(rows: Sequence[Row], *, arrests_per_year: float, on_duty: float) -> str:
    head = (
        f"{'policy':48} {'CPR p50':>8} {'CPR p90':>8} {'AED p50':>8} {'AED p90':>8} {'AED<120':>8}"
        f" {'alerts':>7} {'per resp/yr':>11}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        yearly = arrests_per_year * r.alerts / on_duty if on_duty else 0.0
        lines.append(
            f"{r.name:48} {_mmss(r.cpr(0.5)):>8} {_mmss(r.cpr(0.9)):>8} {_mmss(r.aed(0.5)):>8} {_mmss(r.aed(0.9)):>8}"
            f" {r.aed_before_ems:>8.1%} {r.alerts:>7.1f} {yearly:>11.1f}"
        )
    return "\n".join(lines)


def _mmss(seconds: float) -> str:
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


def plots(rows: Sequence[Row], out: Path, title: str) -> list[Path]:
    """Two PNGs: the distribution of time to first AED per policy, and AEDs before 120 against alerts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Debian's fonts-wqy-microhei (installed by `make tools`) draws the district's name; DejaVu the rest.
    plt.rcParams["font.sans-serif"] = ["WenQuanYi Micro Hei", "DejaVu Sans"]

    out.mkdir(parents=True, exist_ok=True)
    shown = [r for r in rows if r.name.startswith(("current", "before", "alert all", "no fetcher", "radius 1500 m,"))]
    figure, axes = plt.subplots(figsize=(9, 5.5))
    for r in shown:
        times = sorted(o.first_aed_s / 60 for o in r.outcomes)
        axes.step(times, [(i + 1) / len(times) for i in range(len(times))], where="post", label=r.name)
    axes.set(xlabel="minutes to first AED at the patient", ylabel="share of arrests", title=title, xlim=(0, 25))
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, loc="lower right")
    cdf = out / "time-to-aed.png"
    figure.savefig(cdf, dpi=120, bbox_inches="tight")
    plt.close(figure)

    figure, axes = plt.subplots(figsize=(8, 5.5))
    for r in rows:
        axes.scatter(r.alerts, r.aed_before_ems * 100)
        axes.annotate(r.name, (r.alerts, r.aed_before_ems * 100), fontsize=7, xytext=(4, 2), textcoords="offset points")
    axes.set(xlabel="responder alerts per arrest", ylabel="% of arrests with an AED before 120", title=title)
    axes.grid(alpha=0.3)
    trade = out / "aed-vs-alerts.png"
    figure.savefig(trade, dpi=120, bbox_inches="tight")
    plt.close(figure)
    return [cdf, trade]
