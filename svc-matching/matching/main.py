"""svc-matching: service requests from publication to paid, reviewed, rated delivery."""
from __future__ import annotations

import asyncio
import logging

from fastapi import FastAPI

from servicekit import clock
from servicekit.app import Runtime, create_service_app
from servicekit.pii import PersonalDataCipher
from matching.api import catalogue, records, requests
from matching.domain import lifecycle
from matching.domain.records import EvidenceSigner
from matching.events import consumers
from matching.settings import MatchingSettings

log = logging.getLogger(__name__)


async def advance_lifecycle_periodically(runtime: Runtime) -> None:
    """No-shows, sign-outs the window closed, and requests that expired unserved."""
    settings: MatchingSettings = runtime.settings  # type: ignore[assignment]
    while True:
        try:
            changed = await lifecycle.run_once(runtime.db, settings, now=clock.now())
            if changed:
                log.info("requests advanced", extra={"count": changed})
        except Exception:  # the database may be briefly away; try again next round
            log.exception("lifecycle round failed")
        await asyncio.sleep(settings.lifecycle_interval_s)


def create_app(settings: MatchingSettings | None = None) -> FastAPI:
    settings = settings or MatchingSettings()
    app = create_service_app(
        settings, title="svc-matching",
        description="Service requests from publication to paid, reviewed, rated delivery. Positions are WGS-84 "
                    "(GCJ-02 accepted and converted); times ISO 8601 with offset; minutes are integers.",
        routers=[catalogue.router, records.router, requests.router], consumers=consumers, background=[advance_lifecycle_periodically])
    app.state.cipher = PersonalDataCipher(settings.pii_keys, settings.pii_active_key)
    app.state.evidence_signer = EvidenceSigner(settings.evidence_signing_seed, settings.evidence_key_id)
    return app
