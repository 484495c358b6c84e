"""svc-identity: people, roles, kinship, partners, tokens."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, cast

from fastapi import FastAPI

from identity.api import (
    auth,
    closure,
    console_session,
    directory,
    export,
    guardianships,
    inbox,
    institutions,
    insurance,
    kinships,
    me,
    people,
    real_name_claims,
    sanctions,
    suspension,
)
from identity.domain import age_facts, keys, notifications, roles
from identity.domain import closure as closures
from identity.events import consumers
from identity.pii import PersonalDataCipher
from identity.settings import IdentitySettings
from identity.tencentcloud import RealNameAuthority, SmsClient
from identity.wechat import WechatClient
from servicekit.app import Runtime, create_service_app, periodically
from servicekit.auth import KeyLoader


async def lapse_roles(runtime: Runtime) -> int:
    """Responder roles lapse by themselves when the first-aid certificate expires."""
    return await roles.lapse_expired_roles(runtime.db)


def deliver_notifications(channels: notifications.Channels) -> Callable[[Runtime], Coroutine[Any, Any, None]]:
    """WeChat subscription messages (SMS for urgent ones) other services asked for. Woken by the commit that
    stores a notification (an SOS alert waits for no poll); the interval is for retries that come due."""

    async def loop(runtime: Runtime) -> None:
        settings = cast(IdentitySettings, runtime.settings)
        deliveries = notifications.Deliveries(runtime.db, channels, max_attempts=settings.notification_max_attempts)

        async def deliver(runtime: Runtime) -> int:
            return await deliveries.round()

        try:
            await periodically(
                deliver, every=lambda s: s.notification_interval_s, what="notifications sent", on_commit=True
            )(runtime)
        finally:
            await deliveries.close()

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
    cipher = PersonalDataCipher(settings)
    sms = SmsClient(settings)
    channels = notifications.Channels(wechat=wechat, templates=settings.wechat_templates, sms=sms, cipher=cipher)

    async def on_startup(runtime: Runtime) -> None:
        async with runtime.db.transaction() as session:
            await keys.ensure_signing_key(session, settings)

    app = create_service_app(
        settings,
        title="svc-identity",
        description="People, real-name verification, roles, kinship, partners, tokens.",
        routers=[
            auth.router,
            console_session.router,
            me.router,
            people.router,
            directory.router,
            kinships.router,
            guardianships.router,
            insurance.router,
            sanctions.router,
            suspension.router,
            institutions.router,
            inbox.router,
            export.router,
            closure.router,
            real_name_claims.router,
        ],
        consumers=consumers,
        key_loader=local_keys,
        on_startup=on_startup,
        background=[
            periodically(lapse_roles, every=lambda s: s.role_lapse_interval_s, what="roles lapsed"),
            periodically(
                lambda runtime: age_facts.announce_due(runtime.db),
                every=lambda s: s.age_facts_interval_s,
                what="ages announced",
            ),
            periodically(
                lambda runtime: closures.erase_due(runtime.db),
                every=lambda s: s.closure_interval_s,
                what="closed accounts erased",
            ),
            deliver_notifications(channels),
        ],
    )
    app.state.wechat = wechat
    app.state.pii = cipher
    app.state.sms = sms
    app.state.real_name_authority = RealNameAuthority(settings)
    return app
