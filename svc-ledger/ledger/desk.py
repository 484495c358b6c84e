"""The gift desk: concurrent gifts share a transaction (group commit, as TigerBeetle batches transfers).

A request hands its gift to the desk and waits. The desk takes everything waiting — up to `max_batch`,
one command per idempotency key — and applies it with `transfers.gift_many` in one transaction: one
statement per step for the whole batch instead of eight round trips per gift, each gift still with its
own outcome. Answers go out only after the commit. Under load batches grow by themselves (what arrives
while one commits forms the next); alone, a gift goes through at once.

A deadlock or serialization error retries the batch; any other failure re-runs its gifts one by one, so
one gift's trouble is never another's.
"""

from __future__ import annotations

import asyncio
import logging

from ledger.domain import clock, transfers
from servicekit.app import Runtime
from servicekit.db import TRANSIENT_RETRIES, Database, conflict_backoff, is_transient
from servicekit.errors import Problem, ServiceUnavailable

log = logging.getLogger(__name__)

_Waiting = tuple[transfers.GiftCommand, "asyncio.Future[transfers.Outcome]"]


class GiftDesk:
    def __init__(self, *, max_batch: int = 64, in_flight: int = 2) -> None:
        self.max_batch, self.in_flight = max_batch, in_flight
        self.db: Database | None = None
        self._waiting: list[_Waiting] = []
        self._wake = asyncio.Event()
        self.batches = 0  # for tests and metrics: how many transactions served how many gifts

    async def gift(self, command: transfers.GiftCommand) -> transfers.Outcome:
        if self.db is None:
            raise ServiceUnavailable("服务正在启动", "Starting up")
        future: asyncio.Future[transfers.Outcome] = asyncio.get_running_loop().create_future()
        self._waiting.append((command, future))
        self._wake.set()
        return await future

    async def run(self, runtime: Runtime) -> None:
        """The desk's loop, a background job of the service: up to `in_flight` batches commit at once (a
        commit waits on the log flush; meanwhile the next batch is already on its way)."""
        self.db = runtime.db
        slots = asyncio.Semaphore(self.in_flight)
        running: set[asyncio.Task] = set()

        async def apply(batch: list[_Waiting]) -> None:
            try:
                await self._apply(batch)
            finally:
                slots.release()
                self._wake.set()

        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self._waiting:
                    await slots.acquire()
                    batch = self._take()
                    if not batch:
                        slots.release()
                        break
                    task = asyncio.create_task(apply(batch))
                    running.add(task)
                    task.add_done_callback(running.discard)
        finally:
            for task in running:
                task.cancel()
            for _, future in self._waiting:
                if not future.done():
                    future.set_exception(ServiceUnavailable("服务正在停止", "Shutting down"))

    def _take(self) -> list[_Waiting]:
        """The oldest waiting gifts, one per (caller, key): a repeat waits for the next batch and is then a replay."""
        batch: list[_Waiting] = []
        keys: set[tuple[str, str]] = set()
        rest: list[_Waiting] = []
        for item in self._waiting:
            key = (item[0].caller.actor, item[0].key)
            if len(batch) < self.max_batch and key not in keys and not item[1].done():
                batch.append(item)
                keys.add(key)
            elif not item[1].done():
                rest.append(item)
        self._waiting = rest
        return batch

    async def _apply(self, batch: list[_Waiting]) -> None:
        if not batch:
            return
        assert self.db is not None
        for attempt in range(TRANSIENT_RETRIES + 1):
            try:
                async with self.db.transaction() as session:
                    outcomes = await transfers.gift_many(session, [command for command, _ in batch], now=clock.now())
            except Exception as exc:
                if is_transient(exc) and attempt < TRANSIENT_RETRIES:
                    await conflict_backoff(attempt)
                    continue
                if len(batch) > 1:
                    log.warning("gift batch failed; applying its gifts one by one", exc_info=True)
                    for item in batch:
                        await self._apply([item])
                elif not batch[0][1].done():
                    batch[0][1].set_exception(exc)
                return
            self.batches += 1
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if future.done():  # the caller went away; the gift stands, as it would have anyway
                    continue
                if isinstance(outcome, Problem):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)
            return
