"""The garbage collector, for a service that lives long."""

from __future__ import annotations

import gc


def settle() -> None:
    """Call once start-up has loaded everything: what was loaded so far (modules, the app, SQLAlchemy's and
    pydantic's structures) lives as long as the process, so it is frozen out of the collector's sight — full
    collections walking it took ~80 ms, stalling whatever request (an SOS) was in flight."""
    gc.collect()
    gc.freeze()
