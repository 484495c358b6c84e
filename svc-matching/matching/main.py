"""svc-matching: service requests from publication to paid, reviewed, rated delivery."""
from __future__ import annotations

from fastapi import FastAPI

from servicekit.app import create_service_app
from matching.settings import MatchingSettings


def create_app(settings: MatchingSettings | None = None) -> FastAPI:
    return create_service_app(settings or MatchingSettings(), title="svc-matching", description="service requests from publication to paid, reviewed, rated delivery.")
