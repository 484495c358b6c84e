"""Keeps the dev stack's children running, as compose's `restart: unless-stopped` does in production: a child
that exits while the stack is up is logged and started again after a backoff (1 s, doubling to 30 s, back to
1 s once it has stayed up a minute); the others keep running."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from devstack.processes import Child

FIRST_BACKOFF_S = 1.0
MAX_BACKOFF_S = 30.0
STABLE_AFTER_S = 60.0


@dataclass
class _Watch:
    child: Child
    backoff_s: float = FIRST_BACKOFF_S
    started_at: float = 0.0
    restart_at: float | None = None


class Supervisor:
    def __init__(self, children: dict[str, Child], *, say: Callable[[str], None] = print) -> None:
        now = time.monotonic()
        self._watches = {name: _Watch(child, started_at=now) for name, child in children.items()}
        self._say = say
        self.restarts: dict[str, int] = {name: 0 for name in children}

    def watch_once(self) -> None:
        now = time.monotonic()
        for name, watch in self._watches.items():
            if watch.child.running:
                if now - watch.started_at > STABLE_AFTER_S:
                    watch.backoff_s = FIRST_BACKOFF_S
                continue
            if watch.restart_at is None:
                code = watch.child.process.returncode if watch.child.process else None
                self._say(
                    f"{name} exited (code {code}); restarting in {watch.backoff_s:.0f} s. Last log lines:\n"
                    f"{watch.child.tail(15)}"
                )
                watch.restart_at = now + watch.backoff_s
                watch.backoff_s = min(MAX_BACKOFF_S, watch.backoff_s * 2)
            elif now >= watch.restart_at:
                watch.restart_at = None
                watch.started_at = now
                watch.child.start()
                self.restarts[name] += 1
                self._say(f"{name} restarted (restart {self.restarts[name]})")
