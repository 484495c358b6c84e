"""Shared set-up for benchmarks: the same embedded PostgreSQL, broker and stack code the tests use."""
from __future__ import annotations

import statistics
import tempfile
from contextlib import contextmanager
from pathlib import Path

from devstack.broker import TansuBroker
from devstack.postgres import EmbeddedPostgres, free_port
from devstack.pytest_plugin import Infra


@contextmanager
def embedded_infra():
    workdir = Path(tempfile.mkdtemp(prefix="timebank-bench-"))
    postgres = EmbeddedPostgres(workdir / "pg", free_port(), log_dir=workdir / "logs", durable=True)
    broker = TansuBroker(free_port(), log_dir=workdir / "logs")
    postgres.start()
    broker.start()
    try:
        yield Infra(postgres.url("").rstrip("/"), broker.bootstrap_servers, postgres, broker, workdir)
    finally:
        broker.stop()
        postgres.stop()


def median(values: list[float]) -> float:
    return statistics.median(values)
