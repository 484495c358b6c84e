"""Child processes that die with their parent: PR_SET_PDEATHSIG on Linux plus an explicit stop."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def as_user(user: str | None) -> dict:
    """Popen arguments that run a child as `user` with that user's group only (not root's)."""
    if user is None:
        return {}
    import pwd

    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


@dataclass
class Child:
    name: str
    argv: list[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    stop_signal: int = signal.SIGTERM
    process: subprocess.Popen | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:  # the child has its own copy of the descriptor
            self.process = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **self.env},
                preexec_fn=_die_with_parent,
                start_new_session=True,
                **as_user(self.user),
            )

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError(f"{self.name} was never started")
        return self.process.pid

    def stop(self, timeout: float = 10.0) -> None:
        stop_all([self], timeout=timeout)

    def signal_stop(self) -> None:
        if self.running:
            assert self.process is not None
            self.process.send_signal(self.stop_signal)

    def kill(self) -> None:
        """Abrupt death, as in a crash: no graceful shutdown."""
        if self.running:
            assert self.process is not None
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def stop_all(children: list[Child], *, timeout: float = 10.0) -> None:
    """Signal every child at once, wait for all with one deadline, then kill what is left: stopping a dozen
    children one by one, each allowed its own grace, took over a minute under load."""
    for child in children:
        child.signal_stop()
    deadline = time.monotonic() + timeout
    for child in children:
        if child.process is None:
            continue
        try:
            child.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()


class ChildDied(RuntimeError):
    pass


def wait_until(check, *, timeout: float, interval: float = 0.1, what: str = "condition") -> None:
    """Poll `check` until true; a check that raises ChildDied ends the wait at once."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except ChildDied:
            raise
        except Exception:
            pass
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
