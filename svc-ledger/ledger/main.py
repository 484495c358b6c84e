"""svc-ledger: the double-entry time-coin ledger."""
from __future__ import annotations

from fastapi import FastAPI

from servicekit.app import create_service_app
from ledger.api import accounts
from ledger.events import consumers
from ledger.settings import LedgerSettings


def create_app(settings: LedgerSettings | None = None) -> FastAPI:
    return create_service_app(
        settings or LedgerSettings(), title="svc-ledger",
        description="Time-coin accounts and transfers. Amounts are integer minutes (60 = 1 coin).",
        routers=[accounts.router], consumers=consumers,
    )
