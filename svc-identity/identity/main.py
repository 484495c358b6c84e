"""svc-identity: people, roles, kinship, partners, tokens."""
from __future__ import annotations

import asyncio
import logging

from fastapi import FastAPI

from servicekit import clock
from servicekit.app import Runtime, create_service_app
from servicekit.auth import KeyLoader
from identity.api import (auth, guardianships, institutions, insurance, kinships, me, people, sanctions,
                          suspension)
from identity.domain import keys, notifications, roles
from identity.events import consumers
from identity.pii import PersonalDataCipher
from identity.settings import IdentitySettings
from identity.wechat import WechatClient

log = logging.getLogger(__name__)


async def lapse_roles_periodically(runtime: Runtime) -> None:
    """Responder roles lapse by themselves when the first-aid certificate expires."""
    while True:
        try:
            lapsed = await roles.lapse_expired_roles(runtime.db)
            if lapsed:
                log.info("roles lapsed", extra={"count": lapsed})
        except Exception:  # the database may be briefly away; try again next round
            log.exception("role lapse round failed")
        await asyncio.sleep(runtime.settings.role_lapse_interval_s)  # type: ignore[attr-defined]


def deliver_notifications(wechat: WechatClient):
    async def loop(runtime: Runtime) -> None:
        """WeChat subscription messages other services asked for (identity.domain.notifications)."""
        settings: IdentitySettings = runtime.settings  # type: ignore[assignment]
        while True:
            try:
                await notifications.deliver_due(runtime.db, wechat, templates=settings.wechat_templates,
                                                max_attempts=settings.notification_max_attempts, now=clock.now())
            except Exception:  # the database may be briefly away; try again next round
                log.exception("notification round failed")
            await asyncio.sleep(settings.notification_interval_s)
    return loop


def create_app(settings: IdentitySettings | None = None) -> FastAPI:
    settings = settings or IdentitySettings()

    def local_keys(runtime: Runtime) -> KeyLoader:
        # Identity verifies its own tokens from its database rather than over HTTP to itself.
        async def load() -> dict:
            async with runtime.db.transaction() as session:
                return await keys.public_jwks(session, settings)
        return load

    wechat = WechatClient(settings)

    async def on_startup(runtime: Runtime) -> None:
        async with runtime.db.transaction() as session:
            await keys.ensure_signing_key(session, settings)

    app = create_service_app(
        settings, title="svc-identity", description="People, real-name verification, roles, kinship, partners, tokens.",
        routers=[auth.router, me.router, people.router, kinships.router, guardianships.router,
                 insurance.router, sanctions.router, suspension.router, institutions.router],
        consumers=consumers, key_loader=local_keys, on_startup=on_startup,
        background=[lapse_roles_periodically, deliver_notifications(wechat)],
    )
    app.state.wechat = wechat
    app.state.pii = PersonalDataCipher(settings)
    return app
