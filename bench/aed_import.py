"""AED bulk import at the documented maximum (5,000 rows) through the gateway, the whole system running:
seconds to answer for a new file, the same file again and a file changing every row, medians of `--rounds`.
Anchor: the gateway's own upstream timeout (`GATEWAY_DEFAULT_TIMEOUT_S`, 15 s): an import answered past it
is a 504 that commits anyway. Target: ≤ 0.2 × the timeout for every kind of file.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

import httpx

from bench._harness import bench_stack, embedded_infra, median
from bench._results import Figure, report
from devstack import scenario
from gateway.settings import GatewaySettings

ROWS = 5000
HEADER = "serial,name,lat,lon,address,district,indoor,access,opening_hours,status"


def _file(tag: str, name: str) -> bytes:
    return "\n".join(
        [
            HEADER,
            *(
                f"B-{tag}-{n:05d},{name}{n},{39.85 + n % 100 * 0.001:.4f},{116.35 + n // 100 * 0.001:.4f},"
                f"海淀区某路{n}号,110108,true,public,Mo-Fr 07:30-18:00,working"
                for n in range(ROWS)
            ),
        ]
    ).encode()


async def _measure(gateway_url: str, rounds: int) -> dict[str, list[float]]:
    seconds: dict[str, list[float]] = {"new": [], "same": [], "changed": []}
    async with httpx.AsyncClient(base_url=gateway_url, timeout=300) as client:
        admin = await scenario.staff(client, "admin") | {"content-type": "text/csv"}
        for _ in range(rounds):
            tag = uuid.uuid4().hex[:6]
            for kind, body in (
                ("new", _file(tag, "学校")),
                ("same", _file(tag, "学校")),
                ("changed", _file(tag, "图书馆")),
            ):
                started = time.perf_counter()
                answer = await client.post("/api/v1/aeds/import", headers=admin, content=body)
                seconds[kind].append(time.perf_counter() - started)
                assert answer.status_code == 200, answer.text[:500]
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    timeout = GatewaySettings().default_timeout_s
    with embedded_infra() as infra:
        # The stack's gateway waits as long as it takes, so a slow import is measured rather than cut off.
        stack = bench_stack(infra, {"GATEWAY_DEFAULT_TIMEOUT_S": "600"})
        stack.seed_demo()
        try:
            seconds = asyncio.run(_measure(stack.gateway_url, args.rounds))
        finally:
            stack.stop()
    print(
        f"AED import of {ROWS} rows through the gateway, median of {args.rounds} (anchor: the gateway's "
        f"{timeout:.0f} s timeout; target ≤ 0.2×)"
    )
    for kind, values in seconds.items():
        print(f"  {kind:<8} {median(values):6.2f} s   {median(values) / timeout:.3f} × timeout")
    slowest = max(seconds, key=lambda kind: median(seconds[kind]))
    report(
        Figure(
            "aed_import",
            f"AED import of {ROWS:,} rows, slowest kind ({slowest})",
            f"{median(seconds[slowest]):.2f} s",
            f"gateway timeout {timeout:.0f} s",
            median(seconds[slowest]) / timeout,
            0.2,
            at_most=True,
        )
    )


if __name__ == "__main__":
    main()
