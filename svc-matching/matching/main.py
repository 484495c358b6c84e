"""svc-matching: service requests from publication to paid, reviewed, rated delivery."""

from __future__ import annotations

from typing import cast

from fastapi import FastAPI

from matching.api import catalogue, export, follow_ups, records, requests
from matching.domain import lifecycle
from matching.domain.records import EvidenceSigner
from matching.events import consumers
from matching.settings import MatchingSettings
from servicekit import clock
from servicekit.app import Runtime, create_service_app, periodically
from servicekit.pii import PersonalDataCipher


async def advance_lifecycle(runtime: Runtime) -> int:
    """No-shows, sign-outs the window closed, and requests that expired unserved."""
    return await lifecycle.run_once(runtime.db, cast(MatchingSettings, runtime.settings), now=clock.now())


def create_app(settings: MatchingSettings | None = None) -> FastAPI:
    settings = settings or MatchingSettings()
    app = create_service_app(
        settings,
        title="svc-matching",
        description="Service requests from publication to paid, reviewed, rated delivery. Positions are WGS-84 "
        "(GCJ-02 accepted and converted); times ISO 8601 with offset; minutes are integers.",
        routers=[catalogue.router, export.router, follow_ups.router, records.router, requests.router],
        consumers=consumers,
        background=[periodically(advance_lifecycle, every=lambda s: s.lifecycle_interval_s, what="requests advanced")],
    )
    app.state.cipher = PersonalDataCipher(settings.pii_keys, settings.pii_active_key)
    app.state.evidence_signer = EvidenceSigner(settings.evidence_signing_seed, settings.evidence_key_id)
    return app
