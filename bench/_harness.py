"""Shared set-up for benchmarks: the same embedded PostgreSQL, broker and stack code the tests use."""

from __future__ import annotations

import asyncio
import os
import re
import statistics
import time

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from devstack.pytest_plugin import embedded_infra as _embedded_infra
from devstack.pytest_plugin import start_stack
from devstack.stack import SERVICES, Stack


def embedded_infra():
    return _embedded_infra("timebank-bench-", keep=bool(os.environ.get("BENCH_KEEP")))


def bench_stack(infra, extra_env: dict[str, str] | None = None) -> Stack:
    """The system as deployed (every poll, retry and job at its production pace, not the tests'), with warnings-only
    logs and the gateway's rate limits lifted: a load generator is one client sending what thousands would."""
    env = {f"{service.upper()}_LOG_LEVEL": "WARNING" for service in ["gateway", *SERVICES]}
    env |= {"GATEWAY_RATE_LIMIT_PER_IP": "100000000/minute", "GATEWAY_RATE_LIMIT_PER_PRINCIPAL": "100000000/minute"}
    return start_stack(infra, extra_env=env | (extra_env or {}), pace="deployed")


def figure_in(pattern: str, output: str, flags: int = 0) -> str:
    """The first group of `pattern` in a load tool's output (wrk, pgbench); its whole output when it is not there."""
    found = re.search(pattern, output, flags)
    if found is None:
        raise SystemExit(f"no {pattern!r} in the output — the benchmark is invalid:\n{output}")
    return found.group(1)


def median(values: list[float]) -> float:
    return statistics.median(values)


async def wait_count(
    url: str, sql: str, target: int, *, params: dict | None = None, timeout: float = 600, interval: float = 0.05
) -> float:
    """Poll `sql` (a count) until it reaches `target`; returns `time.monotonic()` then. A stuck run ends the
    benchmark instead of hanging it. `interval` bounds how late the clock stops."""
    engine = create_async_engine(url, pool_size=1)
    try:
        deadline = time.monotonic() + timeout
        while True:
            async with engine.connect() as conn:
                done = (await conn.execute(text(sql), params or {})).scalar_one()
            if done >= target:
                return time.monotonic()
            if time.monotonic() > deadline:
                raise SystemExit(f"only {done} of {target} done after {timeout}s")
            await asyncio.sleep(interval)
    finally:
        await engine.dispose()


def _name_and_seconds(stat: str) -> tuple[str, float]:
    """A process's name and CPU seconds (user + system) from its /proc/<pid>/stat line."""
    name, fields = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :].split()
    return name, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) process `pid` has used so far, from /proc (Linux)."""
    with open(f"/proc/{pid}/stat") as f:
        return _name_and_seconds(f.read())[1]


def _cpu_of(command: str) -> dict[int, float]:
    """CPU seconds (user + system) of each running process whose name starts with `command` (the broker's
    binary carries its version), from /proc (Linux)."""
    seconds: dict[int, float] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                name, used = _name_and_seconds(f.read())
        except OSError:
            continue
        if name.startswith(command):
            seconds[int(entry.name)] = used
    return seconds


class CpuMeter:
    """CPU used between `start` and `stop` by this process, by PostgreSQL's processes (connections must stay
    open until `stop`: an exited backend's time is lost) and by the broker. Where the time goes, on a shared
    machine."""

    def start(self) -> None:
        self._own, self._pg, self._broker = time.process_time(), _cpu_of("postgres"), _cpu_of("tansu")

    def stop(self) -> tuple[float, float, float]:
        def used(before: dict[int, float], now: dict[int, float]) -> float:
            return sum(t - before.get(pid, 0.0) for pid, t in now.items())

        return (
            time.process_time() - self._own,
            used(self._pg, _cpu_of("postgres")),
            used(self._broker, _cpu_of("tansu")),
        )
