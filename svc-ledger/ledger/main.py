"""svc-ledger: the double-entry time-coin ledger."""
from __future__ import annotations

import asyncio
import logging

from fastapi import FastAPI

from servicekit.app import Runtime, create_service_app
from ledger.api import accounts, transfers
from ledger.domain import clock, holds
from ledger.events import consumers
from ledger.settings import LedgerSettings

log = logging.getLogger(__name__)


async def expire_holds_periodically(runtime: Runtime) -> None:
    """Release the coins of holds whose request was neither served nor cancelled in time."""
    while True:
        try:
            expired = await holds.expire_due_holds(runtime.db, now=clock.now())
            if expired:
                log.info("holds expired", extra={"count": expired})
        except Exception:  # the database may be briefly away; try again next round
            log.exception("hold expiry round failed")
        await asyncio.sleep(runtime.settings.hold_expiry_interval_s)  # type: ignore[attr-defined]


def create_app(settings: LedgerSettings | None = None) -> FastAPI:
    return create_service_app(
        settings or LedgerSettings(), title="svc-ledger",
        description="Time-coin accounts and transfers. Amounts are integer minutes (60 = 1 coin).",
        routers=[accounts.router, transfers.router], consumers=consumers, background=[expire_holds_periodically],
    )
