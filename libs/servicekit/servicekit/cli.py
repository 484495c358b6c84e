"""The operator CLI every service shares: `python -m <service> serve|migrate|dlq-replay|…`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import uvicorn

from servicekit.app import ConsumerFactory, build_runtime
from servicekit.db import Database
from servicekit.errors import Problem
from servicekit.migrations import upgrade_to_head
from servicekit.observability import serve_with_workers
from servicekit.outbox import republish_since
from servicekit.pii import PersonalDataCipher, Resealed, SealedColumns, reseal
from servicekit.serving import UVICORN_OPTIONS
from servicekit.settings import ServiceSettings


@dataclass
class Command:
    help: str
    run: Callable[[argparse.Namespace, Any], int | None]  # given the service's own settings
    arguments: Callable[[argparse.ArgumentParser], None] = field(default=lambda parser: None)


def reseal_command(cipher_of: Callable[[Any], PersonalDataCipher], tables: Sequence[SealedColumns]) -> Command:
    """`reseal-personal-data`: after the active personal-data key changed, seal every value under it (README
    "Key rotation"); exit 1 while anything remains under another key, which must then stay configured."""

    def run(args: argparse.Namespace, settings: Any) -> int:
        cipher = cipher_of(settings)

        async def each() -> list[Resealed]:
            db = Database(settings.database_url, pool_size=1)
            try:
                return [await reseal(db, cipher, table) for table in tables]
            finally:
                await db.dispose()

        try:
            done = asyncio.run(each())
        except KeyError as missing:
            print(f"error: data is sealed under key {missing}, which is not configured: add it back", file=sys.stderr)
            return 1
        for table in done:
            print(f"{table.table}: {table.rewritten} resealed under {cipher.active_key}, {table.remaining} remaining")
        if any(table.remaining for table in done):
            print("some rows were in use: run again before retiring a key", file=sys.stderr)
            return 1
        print(f"every value is sealed under {cipher.active_key}: the other keys may leave the configuration")
        return 0

    return Command("seal all personal data under the active key (after a key rotation)", run)


def run_cli(
    *,
    settings: ServiceSettings,
    app_factory: str,
    consumers: ConsumerFactory | None,
    commands: dict[str, Command] | None = None,
    production_checks: Callable[[Any], Coroutine[Any, Any, list[str]]] | None = None,
    argv: list[str] | None = None,
) -> int:
    """`app_factory` is an import string ("ledger.main:create_app"); `consumers` is the factory the app runs its
    consumers with (the CLI replays their dead letters), or None for a service that consumes nothing — a
    required argument, so no consuming service can leave its dead letters without a replay.
    `production_checks` finds what else makes the service unfit to serve outside development (e.g. the demo
    seed in its database); with the settings' own `production_problems`, any finding refuses every command."""
    parser = argparse.ArgumentParser(prog=f"python -m {settings.service_name}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply database migrations up to head")
    sub.add_parser("serve", help="run the HTTP service (migrates first when MIGRATE_ON_START is set)")
    replay = sub.add_parser("dlq-replay", help="re-apply this service's dead-lettered events")
    replay.add_argument("--idle-timeout-ms", type=int, default=3000)
    republish = sub.add_parser(
        "outbox-republish",
        help="publish again the outbox rows published since a time and "
        "still retained (after a broker lost data; consumers drop what they applied)",
    )
    republish.add_argument(
        "--since", type=_aware_time, required=True, help="ISO 8601 time with offset, e.g. 2026-12-05T10:00:00+08:00"
    )
    rewind = sub.add_parser(
        "consumers-rewind",
        help="after restoring this service's database from a backup taken at a time: set its consumer groups "
        "back to that time, so the events since are applied again (run with the service stopped)",
    )
    rewind.add_argument(
        "--to", type=_aware_time, required=True, help="the backup's time, ISO 8601 with offset, e.g. 20261205T023000Z"
    )
    for name, cmd in (commands or {}).items():
        cmd.arguments(sub.add_parser(name, help=cmd.help))
    args = parser.parse_args(argv)
    problems = settings.production_problems()
    if not problems and args.command == "serve" and production_checks is not None and settings.environment != "dev":
        problems += asyncio.run(production_checks(settings))
    if problems:
        print(f"{settings.service_name}: refusing to run with TIMEBANK_ENV={settings.environment}:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        print("  (deploy/.env.example says how to make each setting)", file=sys.stderr)
        return 1

    if args.command == "migrate":
        upgrade_to_head(settings.migrations_path, settings.database_url)
        return 0
    if args.command == "serve":
        if settings.migrate_on_start:
            upgrade_to_head(settings.migrations_path, settings.database_url)
        serve_with_workers(settings.service_name, settings.workers)
        uvicorn.run(
            app_factory,
            factory=True,
            host=settings.host,
            port=settings.port,
            lifespan="on",
            workers=settings.workers,
            # Longer than the gateway's pool keeps idle connections, so the gateway never reuses
            # a connection the service is closing.
            timeout_keep_alive=75,
            **UVICORN_OPTIONS,
        )
        return 0
    if args.command == "dlq-replay":
        return asyncio.run(_replay(settings, consumers, args.idle_timeout_ms))
    if args.command == "outbox-republish":
        return asyncio.run(_republish(settings, args.since))
    if args.command == "consumers-rewind":
        return asyncio.run(_rewind(settings, consumers, args.to))
    try:
        return (commands or {})[args.command].run(args, settings) or 0
    except Problem as problem:
        print(f"error: {problem.detail_en or problem.title_en}", file=sys.stderr)
        return 2


def _aware_time(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError("give the time with its offset, e.g. +08:00")
    return moment


async def _republish(settings: ServiceSettings, since: datetime) -> int:
    db = Database(settings.database_url, pool_size=1)
    try:
        count = await republish_since(db, since)
    finally:
        await db.dispose()
    print(f"{count} outbox rows published since {since.isoformat()} will be published again by the running relay")
    return 0


async def _rewind(settings: ServiceSettings, consumers: ConsumerFactory | None, to: datetime) -> int:
    if consumers is None:
        print("this service consumes no events")
        return 0
    for consumer in consumers(build_runtime(settings)):
        try:
            offsets = await consumer.rewind_group_to(to)
        finally:
            await consumer.db.dispose()
        where = ", ".join(f"{tp.topic}[{tp.partition}]@{offset}" for tp, offset in sorted(offsets.items()))
        print(f"{consumer.name}: set back to {to.isoformat()}: {where or 'no partitions yet'}")
    return 0


async def _replay(settings: ServiceSettings, consumers: ConsumerFactory | None, idle_timeout_ms: int) -> int:
    if consumers is None:
        print("this service consumes no events")
        return 0
    failing_total = 0
    for consumer in consumers(build_runtime(settings)):
        applied, failing = await consumer.replay_dead_letters(idle_timeout_ms=idle_timeout_ms)
        print(f"{consumer.name}: {applied} applied, {failing} still failing")
        failing_total += failing
        await consumer.db.dispose()
    return 1 if failing_total else 0
