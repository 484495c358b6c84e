"""Operator CLI: `python -m matching serve|migrate|dlq-replay|lifecycle`."""

import argparse
import asyncio
import sys

from matching.db.requests import SEALED
from matching.domain import lifecycle
from matching.events import consumers
from matching.settings import MatchingSettings
from servicekit import clock
from servicekit.cli import Command, reseal_command, run_cli
from servicekit.db import Database
from servicekit.pii import PersonalDataCipher


def advance(args: argparse.Namespace, settings: MatchingSettings) -> int:
    async def run() -> int:
        db = Database(settings.database_url, pool_size=1)
        try:
            return await lifecycle.run_once(db, settings, now=clock.now(), limit=100_000)
        finally:
            await db.dispose()

    print(f"{asyncio.run(run())} changes (no-shows, closed windows, expired requests)")
    return 0


def main() -> int:
    settings = MatchingSettings()
    return run_cli(
        settings=settings,
        app_factory="matching.main:create_app",
        consumers=consumers,
        commands={
            "lifecycle": Command("apply no-shows, closed windows and expiries now", advance),
            "reseal-personal-data": reseal_command(
                lambda settings: PersonalDataCipher(settings.pii_keys, settings.pii_active_key), SEALED
            ),
        },
    )


if __name__ == "__main__":
    sys.exit(main())
