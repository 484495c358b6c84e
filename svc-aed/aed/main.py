"""svc-aed: AED registry and 急救宝 emergency responder dispatch."""
from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from zoneinfo import ZoneInfo

import httpx
from fastapi import FastAPI

from servicekit import clock
from servicekit.app import Runtime, create_service_app
from aed.api import devices
from aed.api import incidents as incident_api
from aed.db import incidents as incident_repo
from aed.domain import dispatch, incidents, upkeep
from aed.events import consumers
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


async def waves_periodically(runtime: Runtime) -> None:
    """Incidents whose wave is up get the next one; positions not refreshed in time are dropped."""
    settings: AedSettings = runtime.settings  # type: ignore[assignment]
    while True:
        try:
            now = clock.now()
            async with runtime.db.transaction() as session:
                await incident_repo.drop_stale_positions(session, now - timedelta(seconds=settings.duty_ttl_s))
                due = await incident_repo.due_waves(session, now)
            for incident_id in due:
                async with runtime.db.transaction() as session:
                    await incidents.next_wave(session, incident_id, settings=settings, now=now, force=True)
        except Exception:
            log.exception("wave round failed")
        await asyncio.sleep(settings.waves_check_interval_s)


async def dispatch_periodically(runtime: Runtime) -> None:
    """Push incident updates to 120 in order, until acknowledged."""
    settings: AedSettings = runtime.settings  # type: ignore[assignment]
    if not settings.dispatch_webhook_url:
        return
    async with httpx.AsyncClient(timeout=settings.dispatch_timeout_s) as client:
        while True:
            try:
                await dispatch.deliver_due(runtime.db, client, settings.dispatch_webhook_url, now=clock.now(),
                                           max_backoff_s=settings.dispatch_max_backoff_s)
            except Exception:
                log.exception("dispatch round failed")
            await asyncio.sleep(0.2)


def create_app(settings: AedSettings | None = None) -> FastAPI:
    return create_service_app(
        settings or AedSettings(), title="svc-aed",
        description="AED registry and 急救宝 emergency responder dispatch. Positions WGS-84 (GCJ-02 accepted and "
                    "returned for Chinese maps).",
        routers=[devices.router, incident_api.router], consumers=consumers,
        background=[upkeep_periodically, waves_periodically, dispatch_periodically])
