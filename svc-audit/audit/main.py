"""svc-audit: fraud supervision, sanctions and a tamper-evident audit trail."""
from __future__ import annotations

from fastapi import FastAPI

from servicekit.app import create_service_app
from audit.settings import AuditSettings


def create_app(settings: AuditSettings | None = None) -> FastAPI:
    return create_service_app(settings or AuditSettings(), title="svc-audit", description="fraud supervision, sanctions and a tamper-evident audit trail.")
