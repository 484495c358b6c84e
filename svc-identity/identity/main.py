"""svc-identity: people, roles, kinship, partners, tokens."""
from __future__ import annotations

from fastapi import FastAPI

from servicekit.app import Runtime, create_service_app
from servicekit.auth import KeyLoader
from identity.api import auth, kinships, me, people
from identity.domain import keys
from identity.pii import PersonalDataCipher
from identity.settings import IdentitySettings
from identity.wechat import WechatClient


def create_app(settings: IdentitySettings | None = None) -> FastAPI:
    settings = settings or IdentitySettings()

    def local_keys(runtime: Runtime) -> KeyLoader:
        # Identity verifies its own tokens from its database rather than over HTTP to itself.
        async def load() -> dict:
            async with runtime.db.transaction() as session:
                return await keys.public_jwks(session, settings)
        return load

    async def on_startup(runtime: Runtime) -> None:
        async with runtime.db.transaction() as session:
            await keys.ensure_signing_key(session, settings)

    app = create_service_app(
        settings, title="svc-identity", description="People, real-name verification, roles, kinship, partners, tokens.",
        routers=[auth.router, me.router, people.router, kinships.router], key_loader=local_keys, on_startup=on_startup,
    )
    app.state.wechat = WechatClient(settings)
    app.state.pii = PersonalDataCipher(settings)
    return app
