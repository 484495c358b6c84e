"""Fake outside systems (WeChat, 120's dispatch, an SMS provider) served over HTTP, as the real ones are."""

from __future__ import annotations

import argparse
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI


def with_health(app: FastAPI) -> FastAPI:
    """The liveness route the dev runner waits on."""

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    return app


def serve(
    build: Callable[[argparse.Namespace], FastAPI],
    *,
    port: int,
    options: Callable[[argparse.ArgumentParser], None] | None = None,
) -> None:
    """`python -m devstack.fakes.<name> --port N [options]`: build the app from the parsed arguments and serve it."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=port)
    if options is not None:
        options(parser)
    args = parser.parse_args()
    uvicorn.run(with_health(build(args)), host="127.0.0.1", port=args.port, log_level="warning")
