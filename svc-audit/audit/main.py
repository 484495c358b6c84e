"""svc-audit: fraud supervision, sanctions and a tamper-evident audit trail."""

from __future__ import annotations

from fastapi import FastAPI

from audit.api import alerts, exports, log
from audit.domain.trail import CheckpointSigner
from audit.events import collect_less_often, consumers
from audit.judging import judging
from audit.settings import AuditSettings
from servicekit.app import create_service_app


def create_app(settings: AuditSettings | None = None) -> FastAPI:
    settings = settings or AuditSettings()
    app = create_service_app(
        settings,
        title="svc-audit",
        description="Fraud supervision, sanctions and a tamper-evident audit trail.",
        routers=[exports.router, alerts.router, log.router],  # /alerts/export before /alerts/{alert_id}
        consumers=consumers,
        background=[judging],
        on_startup=lambda runtime: collect_less_often(settings),
    )
    app.state.checkpoint_signer = CheckpointSigner(settings.checkpoint_keys, settings.checkpoint_active_key)
    return app
