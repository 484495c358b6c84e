"""Gateway overhead: an authenticated GET through the gateway vs the same GET straight to the service.

Same load generator (wrk), same connections and duration, alternating rounds in one run; medians reported.
Two phases: throughput at saturation (--connections), and latency below saturation (--latency-connections),
where the p99 difference is the hop's own cost rather than queueing behind a saturated process.
Floors: gateway throughput >= 0.8 x direct, added p99 <= 3 ms. Also printed: the CPU the gateway and the
ledger spend per request, which tells a slip in the gateway's code from a slow machine.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time

import httpx

from bench._harness import bench_stack, cpu_seconds, embedded_infra, figure_in, median
from bench._results import Figure, report

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    match = re.match(r"([\d.]+)(us|ms|s)", text)
    if match is None:
        raise SystemExit(f"unreadable wrk latency {text!r}")
    value, unit = match.groups()
    return float(value) * _UNITS[unit]


def wrk(url: str, token: str, *, connections: int, seconds: int) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-H", f"Authorization: Bearer {token}", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(figure_in(r"Requests/sec:\s+([\d.]+)", out))
    requests = int(figure_in(r"(\d+) requests in", out))
    p50 = _ms(figure_in(r"^\s+50%\s+(\S+)", out, re.M))
    p99 = _ms(figure_in(r"^\s+99%\s+(\S+)", out, re.M))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise SystemExit(f"{url}: {non2xx.group(1)} failed responses — the benchmark is invalid\n{out}")
    return {"rps": rps, "p50": p50, "p99": p99, "requests": requests}


def wrk_with_cpu(url: str, token: str, pids: dict[str, int], **load: int) -> dict[str, float]:
    """A `wrk` run and, for each named process, the CPU it used per request meanwhile (µs, `<name>_us`)."""
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    result = wrk(url, token, **load)
    for name, pid in pids.items():
        result[f"{name}_us"] = (cpu_seconds(pid) - before[name]) / result["requests"] * 1e6
    return result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--latency-connections", type=int, default=1)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 1
    with embedded_infra() as infra:
        stack = bench_stack(infra)
        try:
            login = httpx.post(stack.gateway_url + "/api/v1/auth/wechat-login", json={"code": "dev-bench"}).json()
            token = login["access_token"]
            path = "/api/v1/accounts/me"
            deadline = time.monotonic() + 30
            while httpx.get(stack.gateway_url + path, headers={"Authorization": f"Bearer {token}"}).status_code != 200:
                if time.monotonic() > deadline:
                    raise SystemExit("account never opened")
                time.sleep(0.2)
            wrk(stack.gateway_url + path, token, connections=args.connections, seconds=2)  # warm-up
            wrk(stack.url("ledger") + path, token, connections=args.connections, seconds=2)
            via: list[dict[str, float]] = []
            direct: list[dict[str, float]] = []
            via_light: list[dict[str, float]] = []
            direct_light: list[dict[str, float]] = []
            pids = {name: stack.children[name].pid for name in ("gateway", "ledger")}
            for _ in range(args.rounds):
                for connections, direct_runs, via_runs in (
                    (args.connections, direct, via),
                    (args.latency_connections, direct_light, via_light),
                ):
                    load = {"connections": connections, "seconds": args.seconds}
                    direct_runs.append(wrk_with_cpu(stack.url("ledger") + path, token, pids, **load))
                    via_runs.append(wrk_with_cpu(stack.gateway_url + path, token, pids, **load))
        finally:
            stack.stop()

    def row(label: str, runs: list[dict[str, float]]) -> dict[str, float]:
        m = {k: median([r[k] for r in runs]) for k in ("rps", "p50", "p99")}
        print(f"  {label:<17}: {m['rps']:8.0f} req/s  p50 {m['p50']:6.2f} ms  p99 {m['p99']:6.2f} ms")
        return m

    print(f"GET {path}, wrk, {args.rounds} rounds x {args.seconds}s, direct and gateway alternating, medians")
    print(f" saturated, {args.connections} connections:")
    d, g = row("direct to ledger", direct), row("through gateway", via)
    print(f" below saturation, {args.latency_connections} connections:")
    dl, gl = row("direct to ledger", direct_light), row("through gateway", via_light)
    print(f"added p99 at saturation = {g['p99'] - d['p99']:.2f} ms (queueing, not the hop)")
    # Both processes slow down together when the shared machine does, so their ratio holds still where
    # throughput does not: a slip in the gateway's own code shows here first.
    shares = [r["gateway_us"] / r["ledger_us"] for r in via]
    print(
        f"CPU per request at saturation, medians: direct, ledger {median([r['ledger_us'] for r in direct]):.0f} µs;"
        f" through the gateway, ledger {median([r['ledger_us'] for r in via]):.0f} µs and gateway"
        f" {median([r['gateway_us'] for r in via]):.0f} µs, the gateway's per ledger's"
        f" {median(shares):.2f} (rounds {', '.join(f'{x:.2f}' for x in shares)})"
    )
    report(
        Figure(
            "gateway",
            f"throughput through the gateway, {args.connections} connections",
            f"{g['rps']:.0f} req/s",
            f"direct to ledger {d['rps']:.0f} req/s",
            g["rps"] / d["rps"],
            0.8,
        )
    )
    added = gl["p99"] - dl["p99"]
    report(
        Figure(
            "gateway",
            f"added p99, {args.latency_connections} connection",
            f"+{added:.2f} ms (p99 {gl['p99']:.2f} against {dl['p99']:.2f})",
            "budget 3 ms",
            added / 3,
            1,
            at_most=True,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
