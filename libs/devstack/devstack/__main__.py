"""`python -m devstack up`: the whole system on the embedded defaults, stopped cleanly by Ctrl-C."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from devstack.broker import TansuBroker
from devstack.postgres import EmbeddedPostgres, port_is_free
from devstack.processes import Child, ChildDied, stop_all
from devstack.stack import SERVICES, Ports, Stack
from devstack.supervise import Supervisor

ROOT = Path(__file__).resolve().parents[3]


def up(args: argparse.Namespace) -> int:
    data = Path(args.data_dir).resolve()
    logs = data / "logs"
    base = args.port_base
    ports = Ports(
        gateway=base,
        identity=base + 1,
        ledger=base + 2,
        matching=base + 3,
        aed=base + 4,
        audit=base + 5,
        wechat=base + 90,
        dispatch120=base + 91,
        tencentcloud=base + 92,
    )
    external_db = os.environ.get("DATABASE_URL")
    external_kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    busy = [
        p
        for p in [ports.of(n) for n in ["gateway", *SERVICES, "wechat", "dispatch120", "tencentcloud"]]
        if not port_is_free(p)
    ]
    if not external_db and not port_is_free(args.pg_port):
        busy.append(args.pg_port)
    if not external_kafka:
        busy += [p for p in (args.kafka_port, args.kafka_port + 1) if not port_is_free(p)]
    if busy:
        print(f"ports already in use: {busy} — is another stack running?", file=sys.stderr)
        return 1

    postgres = broker = stack = None

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    # Installed explicitly, not left to Python's default: a runner started from a script's background job
    # inherits SIGINT ignored, and then Ctrl-C (or `kill -INT`) would do nothing.
    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    try:
        if external_db:
            base = external_db.rsplit("/", 1)[0]
            urls = {name: f"{base}/{name}" for name in SERVICES}
        else:
            postgres = EmbeddedPostgres(data / "postgres", args.pg_port, log_dir=logs)
            print(f"starting PostgreSQL 18 on 127.0.0.1:{args.pg_port} (data in {postgres.data_dir})")
            postgres.start()
            for name in SERVICES:
                postgres.ensure_database(name)
            urls = {name: postgres.url(name) for name in SERVICES}
        if external_kafka:
            bootstrap = external_kafka
        else:
            broker = TansuBroker(
                args.kafka_port, data_dir=data / "broker", log_dir=logs, store_port=args.kafka_port + 1
            )
            print(f"starting Tansu (Kafka protocol) on 127.0.0.1:{args.kafka_port} (log in {broker.data_dir})")
            broker.start()
            bootstrap = broker.bootstrap_servers
        stack = Stack(ports=ports, database_url=urls, kafka_bootstrap_servers=bootstrap, log_dir=logs)
        print("starting services (migrations run at start) …")
        stack.start()
        stack.seed_demo(quiet=False)
        print("\nThe time bank is up:")
        print(f"  gateway      {stack.gateway_url}      (API docs: {stack.gateway_url}/docs)")
        print(f"  console      {stack.gateway_url}/console/   (staff; demo accounts in the README)")
        for name in SERVICES:
            print(f"  {name:<12} {stack.url(name)}")
        print(f"  fake WeChat  {stack.url('wechat')}      (login code dev-<openid>)")
        print(f"  fake 120     {stack.url('dispatch120')}      (incident updates: GET /_fake/updates)")
        print(f"  logs         {logs}")
        print("A child that exits is restarted. Press Ctrl-C to stop.", flush=True)
        supervisor = Supervisor(
            _children(postgres, broker, stack), say=lambda line: print(line, file=sys.stderr, flush=True)
        )
        while True:
            time.sleep(0.5)
            supervisor.watch_once()
    except KeyboardInterrupt:
        return 0
    except ChildDied as exc:
        print(exc, file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the stop short
        print("\nstopping …", flush=True)
        stop_all(list(_children(postgres, broker, stack).values()), timeout=STOP_TIMEOUT_S)
        print("stopped.", flush=True)


# Every child is signalled at once and given this long, together, before what is left is killed.
STOP_TIMEOUT_S = 8.0


def _children(postgres: EmbeddedPostgres | None, broker: TansuBroker | None, stack: Stack | None) -> dict[str, Child]:
    children: dict[str, Child] = dict(stack.children) if stack else {}
    if broker:
        children.update(broker.children)
    if postgres:
        children["postgres"] = postgres.child
    return children


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("up", help="start everything on the embedded defaults")
    p.add_argument("--data-dir", default=str(ROOT / ".data"))
    p.add_argument("--pg-port", type=int, default=5433)
    p.add_argument("--kafka-port", type=int, default=9092, help="the broker's store takes the next port")
    p.add_argument("--port-base", type=int, default=8000, help="gateway port; services take the next five")
    args = parser.parse_args()
    return up(args)


if __name__ == "__main__":
    sys.exit(main())
