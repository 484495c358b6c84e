"""The app factory every service uses: database, outbox relay, consumers, JWKS, problems, health."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError

from servicekit import clock, heap
from servicekit.auth import JwksCache, KeyLoader
from servicekit.consumer import EventConsumer, dlq_topic
from servicekit.db import Database, problem_for_database_error
from servicekit.errors import install_problem_handlers, render_problem
from servicekit.guard import RequestGuard
from servicekit.kafka import ensure_topics
from servicekit.logs import configure_logging
from servicekit.observability import RequestContextMiddleware, metrics_endpoint, worker_stopped
from servicekit.openapi import document_problems
from servicekit.outbox import OutboxRelay
from servicekit.settings import ServiceSettings

log = logging.getLogger(__name__)

ConsumerFactory = Callable[["Runtime"], Sequence[EventConsumer]]


@dataclass
class Runtime:
    """Everything a running service holds; reachable as `request.app.state.runtime`."""

    settings: ServiceSettings
    db: Database
    relay: OutboxRelay
    jwks: JwksCache
    consumers: list[EventConsumer] = field(default_factory=list)

    async def broker_ready(self) -> bool:
        if not self.relay.started or self.relay.producer is None:
            return False
        try:
            await asyncio.wait_for(self.relay.producer.client.fetch_all_metadata(), timeout=2.0)
            return True
        except Exception:
            return False


def periodically(
    job: Callable[[Runtime], Awaitable[object]],
    *,
    every: Callable[[Any], float],
    what: str,
    on_commit: bool = False,
) -> Callable[[Runtime], Coroutine[Any, Any, None]]:
    """A background job (for `create_service_app(background=...)`) that runs `job` every `every(settings)`
    seconds (`every` is given the service's own settings) for the life of the service. A failed round (the database briefly away) is logged and retried
    next round, never the end of the job; a round returning a count logs it. `on_commit`: also run as soon as
    one of the service's transactions commits (work stored by a request or an event waits for no poll)."""

    async def loop(runtime: Runtime) -> None:
        woken = asyncio.Event()
        if on_commit:
            runtime.db.on_commit(woken.set)
        while True:
            woken.clear()
            try:
                done = await job(runtime)
                if done:
                    log.info(what, extra={"count": done})
            except Exception:
                log.exception(f"{what}: round failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(every(runtime.settings)):
                    await woken.wait()

    loop.__name__ = what.replace(" ", "_")
    return loop


async def wind_down(tasks: Iterable[asyncio.Task[Any]], *, grace_s: float) -> None:
    """At shutdown: tasks still running get `grace_s` to finish (a call out to be answered and recorded), then
    are cancelled; returns when all have ended."""
    running = list(tasks)  # a copy: done callbacks may remove them from the caller's set meanwhile
    if running:
        await asyncio.wait(running, timeout=grace_s)
    for task in running:
        task.cancel()
    await asyncio.gather(*running, return_exceptions=True)


async def _warm(runtime: Runtime) -> None:
    """Signing keys and a few database connections fetched at start rather than by the first requests."""
    try:
        await asyncio.gather(runtime.jwks.warm(), runtime.db.warm(min(4, runtime.settings.database_pool_size)))
    except Exception:  # identity or the database not up yet: the first requests will fetch and connect
        log.info("warm-up incomplete", exc_info=True)


def build_runtime(settings: ServiceSettings, *, key_loader: Callable[[Runtime], KeyLoader] | None = None) -> Runtime:
    db = Database(settings.database_url, pool_size=settings.database_pool_size)
    runtime = Runtime(settings=settings, db=db, relay=OutboxRelay(db, settings), jwks=JwksCache(settings))
    if key_loader is not None:
        runtime.jwks = JwksCache(settings, key_loader(runtime))
    return runtime


def create_service_app(
    settings: ServiceSettings,
    *,
    title: str,
    description: str,
    routers: Sequence[APIRouter] = (),
    consumers: ConsumerFactory | None = None,
    key_loader: Callable[[Runtime], KeyLoader] | None = None,
    on_startup: Callable[[Runtime], object] | None = None,
    background: Sequence[Callable[[Runtime], Coroutine[Any, Any, None]]] = (),
) -> FastAPI:
    """`background`: long-running jobs (e.g. expiring holds) started with the service and cancelled
    before it stops. Settings unfit for their environment (`production_problems`) refuse to make an app,
    whichever way the process was started."""
    if problems := settings.production_problems():
        raise RuntimeError(f"{settings.service_name}: refusing TIMEBANK_ENV={settings.environment}: {problems}")
    configure_logging(settings.service_name, settings.log_level)
    clock.configure(settings.clock_file)
    runtime = build_runtime(settings, key_loader=key_loader)
    if consumers is not None:
        runtime.consumers = list(consumers(runtime))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        topics = [settings.own_topic, dlq_topic(settings.own_topic)]
        # Consumed topics too: a consumer subscribed to a topic that does not exist yet would only notice
        # it at its next metadata refresh (minutes), missing the producer's first events until then.
        topics += [name for c in runtime.consumers for t in c.topics for name in (t, dlq_topic(t))]
        try:
            await ensure_topics(settings, sorted(set(topics)))
        except Exception:  # the relay and consumers recover once the broker is back
            log.warning("broker unreachable at start; topics will be created on recovery", exc_info=True)
        if on_startup is not None:
            result = on_startup(runtime)
            if asyncio.iscoroutine(result):
                await result
        await runtime.relay.start()
        for consumer in runtime.consumers:
            await consumer.start()
        jobs: list[asyncio.Task[None]] = [asyncio.create_task(job(runtime)) for job in background]
        jobs.append(asyncio.create_task(_warm(runtime)))
        heap.settle()
        log.info("service started", extra={"port": settings.port})
        yield
        for task in jobs:
            task.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)
        for consumer in runtime.consumers:
            await consumer.stop()
        await runtime.relay.stop()
        await runtime.jwks.close()
        await runtime.db.dispose()
        worker_stopped()

    app = FastAPI(title=title, description=description, version="0.1.0", lifespan=lifespan)
    app.state.runtime = runtime
    app.state.jwks = runtime.jwks
    app.add_middleware(RequestGuard, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware)
    install_problem_handlers(app)

    async def database_refused(request: Request, exc: Exception) -> JSONResponse:
        problem = problem_for_database_error(exc)
        if problem is None:
            raise exc  # not the request's doing: the generic 500 handler logs it
        log.info("database refused a request", extra={"error": f"{type(exc).__name__}: {exc}"[:300]})
        return render_problem(request, problem)

    for error in (DBAPIError, asyncpg.PostgresError, asyncpg.InterfaceError, ConnectionError):
        app.add_exception_handler(error, database_refused)

    @app.get("/healthz", tags=["operations"], summary="Liveness")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], summary="Readiness: database and broker reachable")
    async def readyz(request: Request) -> JSONResponse:
        checks = {"database": "ok", "broker": "ok"}
        try:
            await runtime.db.ping()
        except Exception:
            checks["database"] = "unavailable"
        if not await runtime.broker_ready():
            checks["broker"] = "unavailable"
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not-ready", "checks": checks}, status_code=200 if ready else 503
        )

    app.add_route("/metrics", metrics_endpoint, include_in_schema=False)
    for router in routers:
        app.include_router(router)
    document_problems(app)
    return app
