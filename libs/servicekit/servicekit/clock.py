"""The time a service acts on. In production it is the system clock. Tests move time forward (a booked
window starting, a sign-out two hours later) through a file named by `<SERVICE>_CLOCK_FILE` holding a
number of seconds to add, so the running services never have to wait for real time to pass.

Every domain time comes from `now()`: when a sanction was applied, when a certificate lapses, when a gift was
made. Only security timers — token and refresh-token expiry, signing-key rotation, lock-out after wrong
passwords — use `real_now()`: moving a test's clock must not make a token outlive its real lifetime."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    def __init__(self, offset_file: str | None = None) -> None:
        self._file = offset_file

    def _offset(self) -> float:
        if not self._file:
            return 0.0
        try:  # read every time (a few µs, tests only): a cached mtime can miss two writes within one tick
            with open(self._file) as f:
                text = f.read().strip()
        except FileNotFoundError:
            return 0.0
        return float(text) if text else 0.0

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self._offset())


_clock = Clock()


def configure(offset_file: str | None) -> None:
    global _clock
    _clock = Clock(offset_file)


def now() -> datetime:
    return _clock.now()


def real_now() -> datetime:
    """The system clock, for security timers only (see above)."""
    return datetime.now(UTC)
