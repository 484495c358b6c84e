"""Operator CLI: `python -m audit serve|migrate|dlq-replay|verify-trail`."""

import argparse
import asyncio
import sys

from audit.domain import trail
from audit.events import consumers
from audit.settings import AuditSettings
from servicekit.cli import Command, run_cli
from servicekit.db import Database


def verify_trail(args: argparse.Namespace, settings: AuditSettings) -> int:
    """Recompute the hash chain and the signed checkpoints; exit 1 naming the first altered record."""

    async def run() -> trail.Verification:
        db = Database(settings.database_url, pool_size=1)
        try:
            async with db.transaction() as session:
                return await trail.verify(
                    session, trail.CheckpointSigner(settings.checkpoint_keys, settings.checkpoint_active_key)
                )
        finally:
            await db.dispose()

    result = asyncio.run(run())
    if result.ok:
        print(f"ok: {result.records} records, {result.checkpoints_checked} checkpoints, head {result.head_hash}")
        return 0
    print(f"ALTERED at record {result.first_altered_seq}: {result.problem}")
    return 1


def main() -> int:
    settings = AuditSettings()
    return run_cli(
        settings=settings,
        app_factory="audit.main:create_app",
        consumers=consumers,
        commands={"verify-trail": Command("verify the audit trail's hash chain (exit 1 if altered)", verify_trail)},
    )


if __name__ == "__main__":
    sys.exit(main())
