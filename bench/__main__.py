"""Every benchmark, then one table of every figure against its floor.

    python -m bench            # all of them, as measured for bench/README.md (≈20 min on 2 cores)
    python -m bench --quick    # one short round each: a look, not a figure to quote
    python -m bench --only gateway,ledger

Each benchmark runs in its own process (its own embedded PostgreSQL and broker) and reports its figures
through the file named by BENCH_RESULTS (bench._results). The exit status is 1 when a figure misses its floor
or a benchmark fails, so a slip shows the day it happens.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

from bench._results import RESULTS_FILE, Figure, read

# name -> (arguments as measured for bench/README.md, arguments for --quick)
BENCHES: dict[str, tuple[list[str], list[str]]] = {
    "gateway": ([], ["--rounds", "1", "--seconds", "4"]),
    "backbone": ([], ["--rounds", "1", "--events", "10000"]),
    "ledger": ([], ["--rounds", "1", "--seconds", "4", "--events", "1000"]),
    "tokens": ([], ["--rounds", "1", "--seconds", "3"]),
    "matching": (
        [],
        [
            "--rounds",
            "1",
            "--requests",
            "20000",
            "--queries",
            "300",
            "--unindexed-queries",
            "30",
            "--volunteers",
            "100",
        ],
    ),
    "audit": ([], ["--rounds", "1", "--weeks", "4"]),
    "aed": (
        [],
        [
            "--rounds",
            "1",
            "--devices",
            "30000",
            "--queries",
            "300",
            "--brute-queries",
            "30",
            "--responders",
            "1000",
            "--incidents",
            "100",
        ],
    ),
    "aed_import": ([], ["--rounds", "1"]),
    "sos": ([], ["--rounds", "1", "--incidents", "30", "--responders", "1000"]),
}


def table(figures: list[Figure], failed: list[str]) -> str:
    lines = ["| bench | figure | result | anchor | ratio | floor | met |", "|---|---|---|---|---|---|---|"]
    for f in figures:
        lines.append(
            f"| {f.bench} | {f.figure} | {f.result} | {f.anchor} | {f.ratio:.2f} | {f.floor_text} | "
            f"{'✓' if f.met else '✗'} |"
        )
    for name in failed:
        lines.append(f"| {name} | the benchmark failed (see its output above) | | | | | ✗ |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one short round of each benchmark")
    parser.add_argument("--only", default="", help=f"comma-separated, of: {', '.join(BENCHES)}")
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n] or list(BENCHES)
    unknown = sorted(set(names) - set(BENCHES))
    if unknown:
        parser.error(f"no such benchmark: {', '.join(unknown)}")

    figures: list[Figure] = []
    failed: list[str] = []
    timings: list[str] = []
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="timebank-bench-results-") as scratch:
        for name in names:
            results = os.path.join(scratch, f"{name}.jsonl")
            command = [sys.executable, "-m", f"bench.{name}", *BENCHES[name][1 if args.quick else 0]]
            print(f"\n=== {' '.join(command[1:])}", flush=True)
            started = time.monotonic()
            status = subprocess.run(command, env={**os.environ, RESULTS_FILE: results}).returncode
            timings.append(f"{name} {time.monotonic() - started:.0f} s")
            reported = read(results)
            figures += reported
            if status != 0 or not reported:
                failed.append(name)
    print(
        f"\n{'quick look (one short round each)' if args.quick else 'medians of each benchmark'}; "
        f"{time.monotonic() - began:.0f} s in all ({', '.join(timings)})\n"
    )
    print(table(figures, failed))
    missed = [f for f in figures if not f.met]
    print(
        f"\n{len(figures) - len(missed)} of {len(figures)} figures meet their floor"
        + (f"; failed: {', '.join(failed)}" if failed else "")
    )
    return 1 if missed or failed else 0


if __name__ == "__main__":
    sys.exit(main())
