"""Tokens: how fast identity issues them (WeChat login) and what verifying one costs next to the gateway's
whole per-request cost. Verification must not be the gateway's bottleneck.

- Login: wrk posts `wx.login` codes to the gateway (1,000 people, each code logging in again after its
  first time), 8 connections; requests/s.
- Verification: `JwksCache` (what the gateway and every service use) on 2,000 distinct fresh tokens
  (EdDSA signature check) and on a token already verified (the ≤ 60 s cache), µs per call, in this process.
- Gateway per-request cost: 1 / (authenticated GET /api/v1/me/insurance through the gateway, requests/s at
  saturation, one gateway process), so the ratio says what share of a request verification is.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
import time

import httpx

from bench._harness import bench_stack, embedded_infra, figure_in, median
from bench._results import Figure, report
from servicekit.auth import JwksCache
from servicekit.settings import TokenVerificationSettings


def wrk(url: str, *, script: str | None = None, token: str | None = None, connections: int, seconds: int) -> float:
    args = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s"]
    if token:
        args += ["-H", f"Authorization: Bearer {token}"]
    if script:
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
            handle.write(script)
        args += ["-s", handle.name]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise SystemExit(f"{non2xx.group(1)} failed responses — the benchmark is invalid\n{out}")
    return float(figure_in(r"Requests/sec:\s+([\d.]+)", out))


LOGIN_SCRIPT = """
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format("POST", "/api/v1/auth/wechat-login", {["Content-Type"] = "application/json"},
                    '{"code": "dev-bench-' .. (counter % 1000) .. '"}')
end
"""


async def verification_us(jwks_url: str, tokens: list[str]) -> tuple[float, float]:
    cache = JwksCache(TokenVerificationSettings(jwks_url=jwks_url))
    try:
        await cache.verify(tokens[0])  # keys fetched
        began = time.perf_counter()
        for token in tokens[1:]:
            await cache.verify(token)
        fresh = (time.perf_counter() - began) / (len(tokens) - 1) * 1e6
        began = time.perf_counter()
        for _ in range(20_000):
            await cache.verify(tokens[1])
        cached = (time.perf_counter() - began) / 20_000 * 1e6
        return fresh, cached
    finally:
        await cache.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 1
    with embedded_infra() as infra:
        stack = bench_stack(infra)
        try:
            with httpx.Client(base_url=stack.gateway_url, timeout=30) as client:
                tokens = [
                    client.post("/api/v1/auth/wechat-login", json={"code": f"dev-verify-{i % 300}"}).json()[
                        "access_token"
                    ]
                    for i in range(2001)
                ]
            wrk(stack.gateway_url, script=LOGIN_SCRIPT, connections=args.connections, seconds=2)  # first logins
            logins, gateway_rps, fresh, cached = [], [], [], []
            for _ in range(args.rounds):
                logins.append(
                    wrk(stack.gateway_url, script=LOGIN_SCRIPT, connections=args.connections, seconds=args.seconds)
                )
                gateway_rps.append(
                    wrk(
                        stack.gateway_url + "/api/v1/me/insurance",
                        token=tokens[0],
                        connections=args.connections,
                        seconds=args.seconds,
                    )
                )
                f, c = asyncio.run(verification_us(stack.url("identity") + "/.well-known/jwks.json", tokens))
                fresh.append(f)
                cached.append(c)
        finally:
            stack.stop()
    request_us = 1e6 / median(gateway_rps)
    print(f"medians of {args.rounds} rounds:")
    print(f"  WeChat login through the gateway      : {median(logins):8.0f} tokens/s ({args.connections} connections)")
    print(f"  verify a fresh token (EdDSA)          : {median(fresh):8.1f} µs")
    print(f"  verify a token seen before (cache)    : {median(cached):8.1f} µs")
    print(f"  gateway cost per authenticated request: {request_us:8.1f} µs ({median(gateway_rps):.0f} req/s)")
    print(
        f"  verification share of a request       : fresh {median(fresh) / request_us:.1%}, "
        f"cached {median(cached) / request_us:.1%}"
    )
    # Not the gateway's bottleneck: even a token never seen before costs under a quarter of a request.
    report(
        Figure(
            "tokens",
            "verifying a fresh token (EdDSA), share of a request",
            f"{median(fresh):.0f} µs",
            f"gateway {request_us:,.0f} µs per request",
            median(fresh) / request_us,
            0.25,
            at_most=True,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
