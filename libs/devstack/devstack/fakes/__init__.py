"""Fake outside systems (WeChat, 120's dispatch, an SMS provider) served over HTTP, as the real ones are."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI


def with_health(app: FastAPI) -> FastAPI:
    """The liveness route the dev runner waits on."""

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    return app


@dataclass
class SlowAnswers:
    """A fake's `POST /_fake/slow` rules: the next `requests` calls a rule matches are answered only after
    `seconds` (a slow partner). `open` is how many such calls are still unanswered, which a fake records beside
    what it takes, so a test can tell what arrived while a slow call was open."""

    rules: list[dict] = field(default_factory=list)  # {"matches": Callable[[Any], bool], "seconds", "requests"}
    open: int = 0

    def add(self, matches: Callable[[Any], bool], *, seconds: float, requests: int = 1) -> None:
        self.rules.append({"matches": matches, "seconds": seconds, "requests": requests})

    async def answer(self, call: Any) -> None:
        """Waits as the first rule matching `call` says, if any still has requests to slow down."""
        rule = next((r for r in self.rules if r["requests"] > 0 and r["matches"](call)), None)
        if rule is None:
            return
        rule["requests"] -= 1
        self.open += 1
        try:
            await asyncio.sleep(rule["seconds"])
        finally:
            self.open -= 1


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
