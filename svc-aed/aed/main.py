"""svc-aed: AED registry and 急救宝 emergency responder dispatch."""
from __future__ import annotations

import asyncio
import logging
from zoneinfo import ZoneInfo

from fastapi import FastAPI

from servicekit import clock
from servicekit.app import Runtime, create_service_app
from aed.api import devices
from aed.domain import upkeep
from aed.settings import AedSettings

log = logging.getLogger(__name__)


async def upkeep_periodically(runtime: Runtime) -> None:
    """Consumables expiring soon are announced, expired ones too (the lookup already leaves them out)."""
    settings: AedSettings = runtime.settings  # type: ignore[assignment]
    while True:
        try:
            now = clock.now()
            async with runtime.db.transaction() as session:
                announced = await upkeep.run(session, today=now.astimezone(ZoneInfo("Asia/Shanghai")).date(),
                                             warning_days=settings.expiry_warning_days, now=now)
            if announced:
                log.info("consumables announced", extra={"count": announced})
        except Exception:  # the database may be briefly away; try again next round
            log.exception("upkeep round failed")
        await asyncio.sleep(settings.upkeep_interval_s)


def create_app(settings: AedSettings | None = None) -> FastAPI:
    return create_service_app(
        settings or AedSettings(), title="svc-aed",
        description="AED registry and 急救宝 emergency responder dispatch. Positions WGS-84 (GCJ-02 accepted and "
                    "returned for Chinese maps).",
        routers=[devices.router], background=[upkeep_periodically])
