"""The garbage collector, tuned for a service that lives long and works in batches.

CPython collects its youngest generation every 700 new container objects. A consumed batch of a thousand
events builds tens of thousands of dicts and lists that all live until the batch commits, so the collector
ran dozens of times per batch, walking the same live objects again each time — measured on the audit
pipeline: parsing an event took 18 µs with the default and 9-11 µs with a 50,000 threshold (bench/README.md).
Reference counting still frees almost everything at once; only cycles wait for a collection, and a larger
first generation holds a few megabytes more of them.
"""

from __future__ import annotations

import gc

from servicekit.settings import ServiceSettings


def settle(settings: ServiceSettings) -> None:
    """Call once start-up has loaded everything: what was loaded so far (modules, the app, SQLAlchemy's and
    pydantic's structures) lives as long as the process, so it is frozen out of the collector's sight — full
    collections walking it took ~80 ms, stalling whatever request (an SOS) was in flight."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(settings.gc_young_threshold, *gc.get_threshold()[1:])
