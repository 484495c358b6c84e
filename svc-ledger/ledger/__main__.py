"""Operator CLI: `python -m ledger serve|migrate|dlq-replay|verify|expire-holds`."""

import argparse
import asyncio
import sys

from ledger.db import invariants
from ledger.domain import clock, holds
from ledger.events import consumers
from ledger.settings import LedgerSettings
from servicekit.cli import Command, run_cli
from servicekit.db import Database


def verify(args: argparse.Namespace, settings: LedgerSettings) -> int:
    """Check every ledger invariant; exit 1 and name the offending rows if one is broken."""

    async def run() -> dict:
        db = Database(settings.database_url, pool_size=1)
        try:
            async with db.transaction() as session:
                return await invariants.violations(session)
        finally:
            await db.dispose()

    broken = asyncio.run(run())
    for name in invariants.CHECKS:
        print(("BROKEN " if name in broken else "ok     ") + name)
        for row in broken.get(name, []):
            print(f"         {row}")
    return 1 if broken else 0


def expire_holds(args: argparse.Namespace, settings: LedgerSettings) -> int:
    async def run() -> int:
        db = Database(settings.database_url, pool_size=1)
        try:
            return await holds.expire_due_holds(db, now=clock.now())
        finally:
            await db.dispose()

    print(f"{asyncio.run(run())} holds expired")
    return 0


def main() -> int:
    settings = LedgerSettings()
    return run_cli(
        settings=settings,
        app_factory="ledger.main:create_app",
        consumers=consumers,
        commands={
            "verify": Command("check the ledger invariants (exit 1 if any is broken)", verify),
            "expire-holds": Command("release holds past their expiry now", expire_holds),
        },
    )


if __name__ == "__main__":
    sys.exit(main())
