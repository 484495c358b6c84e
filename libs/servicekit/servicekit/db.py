"""Async engine and sessions with one commit point.

HTTP handlers get a session from `Database.session_dependency`: it commits when the handler returns and
rolls back when it raises; use cases never call commit(). Background work uses `Database.transaction()`.
After every successful commit the registered listeners run (the outbox relay wakes up).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from sqlalchemy import CursorResult, Result, event, text
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from servicekit.errors import Conflict, Problem, ServiceUnavailable, UnprocessableInput

# deadlock_detected, serialization_failure, lock_not_available: retrying the transaction is the remedy.
TRANSIENT_SQLSTATES = frozenset({"40P01", "40001", "55P03"})
TRANSIENT_RETRIES = 10


def rowcount(result: Result) -> int:
    """Rows an INSERT, UPDATE or DELETE touched: `execute` is typed as returning any Result, and a DML
    statement's is a CursorResult."""
    assert isinstance(result, CursorResult)
    return result.rowcount


def sqlstate_of(exc: BaseException) -> str | None:
    """The SQLSTATE of the first PostgreSQL error in the chain (SQLAlchemy wraps asyncpg's), or None."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        state = getattr(current, "sqlstate", None) or getattr(current, "pgcode", None)
        if isinstance(state, str):
            return state
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return None


def is_transient(exc: BaseException) -> bool:
    """True if a PostgreSQL error anywhere in the chain is one that retrying the transaction resolves."""
    return sqlstate_of(exc) in TRANSIENT_SQLSTATES


# admin_shutdown, crash_shutdown, cannot_connect_now (starting up or recovering after a crash).
UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03"})


def is_unavailable(exc: BaseException) -> bool:
    """True if the database could not be reached or went away (down, restarting, recovering, the connection
    reset): nobody's fault, and over once it is back."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        state = getattr(current, "sqlstate", None) or getattr(current, "pgcode", None)
        if isinstance(current, (ConnectionError, TimeoutError)) or getattr(current, "connection_invalidated", False):
            return True
        if isinstance(state, str) and (state.startswith("08") or state in UNAVAILABLE_SQLSTATES):
            return True
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return False


class AlreadyExists(Conflict):
    type = "already-exists"
    title_zh, title_en = "该记录已存在或正被同时创建", "It already exists, or is being created at the same time"


class StateConflict(Conflict):
    type = "state-conflict"
    title_zh, title_en = "与当前数据冲突，请刷新后重试", "Conflicts with the current data; reload and retry"


class InvalidValue(UnprocessableInput):
    type = "invalid-value"
    title_zh, title_en = "输入的值无法保存", "A value in the request cannot be stored"


class BusyRetry(ServiceUnavailable):
    type = "busy-retry"
    title_zh, title_en = "操作与其他请求冲突，请稍后重试", "Conflicted with another request; retry shortly"

    def __init__(self) -> None:
        super().__init__()
        self.headers["Retry-After"] = "1"


def problem_for_database_error(exc: BaseException) -> Problem | None:
    """The problem a client should get when PostgreSQL refused its change, by SQLSTATE class; None when the
    error is not the request's doing and will not pass (a bug), which stays a 500; the database being away is a
    503 with Retry-After. Use cases check the
    rules they know; this is the net under them for races between two requests and for values the edge let
    through, so neither becomes a 500."""
    state = sqlstate_of(exc)
    if state is None:
        return BusyRetry() if is_unavailable(exc) else None
    if state in ("23505", "23P01"):  # unique, exclusion: two creates of one thing, the second loses
        return AlreadyExists()
    if state in ("23503", "23514"):  # foreign key, check: the data changed under the request
        return StateConflict()
    if state.startswith("22") or state in ("23502", "54000"):  # data exception, not null, value too big to index
        return InvalidValue()
    if state in TRANSIENT_SQLSTATES or is_unavailable(exc):
        return BusyRetry()
    return None


async def conflict_backoff(attempt: int) -> None:
    """The pause before retrying a transaction that met a conflict: growing, jittered so the two sides part."""
    await asyncio.sleep(random.uniform(0.005, 0.02) * 2 ** min(attempt, 6))


def _ping_when_idle(engine: AsyncEngine, idle_s: float) -> None:
    """Check a pooled connection before use only if it sat idle for `idle_s` (HikariCP's alive-bypass
    window). SQLAlchemy's `pool_pre_ping` checks every checkout, and with asyncpg a check is three round
    trips (BEGIN, an empty query, ROLLBACK): ~10 % of the ledger's CPU per batch of gifts. A connection in
    use a moment ago is as good as a ping; if the server went away even so, the statement fails as a
    disconnect, SQLAlchemy discards the whole pool, and the caller's retry (consumer, relay) or the next
    request gets fresh connections."""
    pool = engine.sync_engine.pool

    @event.listens_for(pool, "connect")
    def _connected(dbapi_connection, record) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(pool, "checkin")
    def _returned(dbapi_connection, record) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _check(dbapi_connection, record, proxy) -> None:
        if time.monotonic() - record.info.get("idle_since", 0.0) < idle_s:
            return
        try:
            dbapi_connection.ping()
        except Exception as exc:  # the pool drops this connection and checks out another
            raise DisconnectionError() from exc


class Database:
    def __init__(self, url: str, *, pool_size: int = 10, ping_after_idle_s: float = 1.0) -> None:
        self.engine: AsyncEngine = create_async_engine(url, pool_size=pool_size, max_overflow=pool_size)
        _ping_when_idle(self.engine, ping_after_idle_s)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=True)
        self._after_commit: list[Callable[[], None]] = []

    def on_commit(self, listener: Callable[[], None]) -> None:
        self._after_commit.append(listener)

    def _committed(self) -> None:
        for listener in self._after_commit:
            listener()

    @asynccontextmanager
    async def transaction(self, *, notify: bool = True) -> AsyncIterator[AsyncSession]:
        """`notify=False` for the relay's own bookkeeping, which must not wake the relay again."""
        async with self.sessionmaker() as session, session.begin():
            yield session
        if notify:
            self._committed()

    async def session_dependency(self) -> AsyncIterator[AsyncSession]:
        async with self.transaction() as session:
            yield session

    async def warm(self, connections: int) -> None:
        """Open `connections` pooled connections now, so the first requests after a start (an SOS among
        them) do not each pay a connection handshake."""

        async def one() -> None:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
                await asyncio.sleep(0.05)  # held together, so the pool opens that many

        await asyncio.gather(*(one() for _ in range(connections)))

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
