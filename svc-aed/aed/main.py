"""svc-aed: AED registry and 急救宝 emergency responder dispatch."""

from __future__ import annotations

from datetime import timedelta
from typing import cast
from zoneinfo import ZoneInfo

import httpx
from fastapi import FastAPI

from aed.api import board, devices, registry
from aed.api import incidents as incident_api
from aed.db import incidents as incident_repo
from aed.domain import dispatch, incidents
from aed.domain import upkeep as upkeep_job
from aed.events import consumers
from aed.settings import AedSettings
from servicekit import clock
from servicekit.app import Runtime, create_service_app, periodically


async def upkeep(runtime: Runtime) -> int:
    """Consumables expiring soon are announced, expired ones too (the lookup already leaves them out)."""
    settings = cast(AedSettings, runtime.settings)
    now = clock.now()
    async with runtime.db.transaction() as session:
        return await upkeep_job.run(
            session,
            today=now.astimezone(ZoneInfo("Asia/Shanghai")).date(),
            warning_days=settings.expiry_warning_days,
            now=now,
        )


async def waves(runtime: Runtime) -> int:
    """Incidents whose wave is up get the next one; alerts delivered but unseen go again by SMS; positions not
    refreshed in time are dropped."""
    settings = cast(AedSettings, runtime.settings)
    now = clock.now()
    async with runtime.db.transaction() as session:
        await incident_repo.drop_stale_positions(session, now - timedelta(seconds=settings.duty_ttl_s))
        await incidents.resend_unseen(session, settings, now)
        due = await incident_repo.due_waves(session, now)
    alerted = 0
    for incident_id in due:
        async with runtime.db.transaction() as session:
            alerted += await incidents.next_wave(session, incident_id, settings=settings, now=now, force=True)
    return alerted


async def dispatch_loop(runtime: Runtime) -> None:
    """Push incident updates to 120 in order, until acknowledged (when a 120 link is configured)."""
    settings = cast(AedSettings, runtime.settings)
    url = settings.dispatch_webhook_url
    if not url:
        return
    async with httpx.AsyncClient(timeout=settings.dispatch_timeout_s) as client:
        link = dispatch.DispatchLink(
            runtime.db,
            client,
            url,
            secret=settings.dispatch_webhook_secret,
            timeout_s=settings.dispatch_timeout_s,
            max_backoff_s=settings.dispatch_max_backoff_s,
            in_flight=settings.dispatch_in_flight,
            now=clock.now,
        )

        async def deliver(runtime: Runtime) -> int:
            return await link.round()

        try:
            await periodically(deliver, every=lambda s: s.dispatch_interval_s, what="updates delivered to 120")(runtime)
        finally:
            await link.close()


def create_app(settings: AedSettings | None = None) -> FastAPI:
    return create_service_app(
        settings or AedSettings(),
        title="svc-aed",
        description="AED registry and 急救宝 emergency responder dispatch. Positions WGS-84 (GCJ-02 accepted and "
        "returned for Chinese maps).",
        # Fixed paths before the ones they would match as an id (/aeds/registry, /incidents/board).
        routers=[registry.router, devices.router, board.router, incident_api.router],
        consumers=consumers,
        background=[
            periodically(upkeep, every=lambda s: s.upkeep_interval_s, what="consumables announced"),
            periodically(waves, every=lambda s: s.waves_check_interval_s, what="responders alerted"),
            dispatch_loop,
        ],
    )
