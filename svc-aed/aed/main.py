"""svc-aed: AED registry and 急救宝 emergency responder dispatch."""
from __future__ import annotations

from fastapi import FastAPI

from servicekit.app import create_service_app
from aed.settings import AedSettings


def create_app(settings: AedSettings | None = None) -> FastAPI:
    return create_service_app(settings or AedSettings(), title="svc-aed", description="AED registry and 急救宝 emergency responder dispatch.")
