"""The rescue simulation: `python -m sim compare` compares dispatch policies on simulated arrests in a district;
`python -m sim plan` prints where the next AEDs or trained responders would shorten time to an AED the most.
`make sim` runs both with the defaults."""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

from contracts.districts import DISTRICTS
from sim import compare, plan, world
from sim.params import DEFAULT
from sim.rescue import draw_arrests

OUT = Path(__file__).resolve().parents[1] / ".data" / "artefacts" / "sim"


def _compare(args: argparse.Namespace) -> int:
    started = time.monotonic()
    rng = random.Random(args.seed)
    district = world.load(args.district, DEFAULT, rng, args.registry)
    chosen = compare.policies()
    widest = max(p.radius_m for p in chosen.values())
    arrests = draw_arrests(district, DEFAULT, args.arrests, rng=rng, widest_m=widest)
    rows = compare.run(arrests, DEFAULT, chosen)
    on_duty = district.population * DEFAULT.on_duty_per_1000 / 1000
    per_year = district.population * DEFAULT.arrests_per_100k_year / 100_000
    print(
        f"{district.name}区: {district.population:,} residents over {district.area_km2:,.0f} km², "
        f"{len(district.aeds)} AEDs ({'registry' if args.registry else 'assumed'}), "
        f"{on_duty:,.0f} responders on duty, {per_year:,.0f} arrests a year; {len(arrests)} simulated arrests "
        f"(seed {args.seed})"
    )
    print(compare.table(rows, arrests_per_year=per_year, on_duty=on_duty))
    print("times m:ss from the call; AED<120: an AED at the patient before the ambulance; alerts: per arrest;")
    print("per resp/yr: alerts each on-duty responder would receive in a year")
    for path in compare.plots(rows, args.out, f"{district.name}区, {len(arrests)} simulated arrests"):
        print(f"plot: {path}")
    print(f"({time.monotonic() - started:.0f} s)")
    return 0


def _plan(args: argparse.Namespace) -> int:
    started = time.monotonic()
    codes = list(DISTRICTS) if args.district == "all" else [args.district]
    for code in codes:
        rng = random.Random(args.seed)
        district = world.load(code, DEFAULT, rng, args.registry)
        print(
            plan.report(
                district, DEFAULT, rng, arrests=args.arrests, aeds=args.aeds, responders=args.responders, top=args.top
            )
        )
    print(f"({time.monotonic() - started:.0f} s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("compare", "plan"):
        command = commands.add_parser(name)
        command.add_argument("--registry", type=Path, help="an AED registry export (CSV); default: assumed AEDs")
        command.add_argument("--seed", type=int, default=2026)
    comparing = commands.choices["compare"]
    comparing.add_argument("--district", default="110105", choices=list(DISTRICTS))
    comparing.add_argument("--arrests", type=int, default=2000)
    comparing.add_argument("--out", type=Path, default=OUT)
    planning = commands.choices["plan"]
    planning.add_argument("--district", default="all", choices=["all", *DISTRICTS])
    planning.add_argument("--arrests", type=int, default=1500, help="simulated arrests per district")
    planning.add_argument("--aeds", type=int, default=100, help="new AEDs to place in each district")
    planning.add_argument("--responders", type=int, default=1000, help="new trained responders in each district")
    planning.add_argument("--top", type=int, default=5, help="places printed per district")
    args = parser.parse_args(argv)
    return _compare(args) if args.command == "compare" else _plan(args)


if __name__ == "__main__":
    sys.exit(main())
