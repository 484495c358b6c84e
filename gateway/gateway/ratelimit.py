"""Rate limits per client IP and per principal (sliding window counters from the `limits` library;
its Redis storage is a one-line change when the gateway runs as several replicas)."""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from gateway.settings import GatewaySettings


class RateLimits:
    def __init__(self, settings: GatewaySettings) -> None:
        self._limiter = SlidingWindowCounterRateLimiter(MemoryStorage())
        self.per_ip = parse(settings.rate_limit_per_ip)
        self.per_principal = parse(settings.rate_limit_per_principal)
        self.public_lookup = parse(settings.rate_limit_public_lookup)

    async def check(self, item: RateLimitItem, *key: str) -> int | None:
        """None when allowed; otherwise the seconds to wait (for Retry-After)."""
        if await self._limiter.hit(item, *key):
            return None
        stats = await self._limiter.get_window_stats(item, *key)
        return max(1, math.ceil(stats.reset_time - time.time()))
