"""svc-ledger: the double-entry time-coin ledger."""

from __future__ import annotations

from fastapi import FastAPI

from ledger.api import accounts, overview, transfers
from ledger.desk import GiftDesk
from ledger.domain import clock, closure, holds
from ledger.events import consumers
from ledger.settings import LedgerSettings
from servicekit.app import Runtime, create_service_app, periodically


async def expire_holds(runtime: Runtime) -> int:
    """Release the coins of holds whose request was neither served nor cancelled in time."""
    return await holds.expire_due_holds(runtime.db, now=clock.now())


async def sweep_closed_accounts(runtime: Runtime) -> int:
    """Move coins that reached closed accounts after their closure (a hold released late)."""
    return await closure.sweep(runtime.db, now=clock.now())


def create_app(settings: LedgerSettings | None = None) -> FastAPI:
    settings = settings or LedgerSettings()
    desk = GiftDesk(max_batch=settings.gift_desk_max_batch, in_flight=settings.gift_desk_in_flight)
    app = create_service_app(
        settings,
        title="svc-ledger",
        description="Time-coin accounts and transfers. Amounts are integer minutes (60 = 1 coin).",
        routers=[overview.router, accounts.router, transfers.router],  # /accounts/issuance before /accounts/{id}
        consumers=consumers,
        background=[
            periodically(expire_holds, every=lambda s: s.hold_expiry_interval_s, what="holds expired"),
            periodically(
                sweep_closed_accounts, every=lambda s: s.closure_sweep_interval_s, what="closed accounts swept"
            ),
            desk.run,
        ],
    )
    app.state.gift_desk = desk
    return app
