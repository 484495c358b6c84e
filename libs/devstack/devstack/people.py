"""Made-up people for tests and benchmarks."""
from __future__ import annotations

import random
from datetime import date, timedelta

_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
_CHECK = "10X98765432"


def resident_number(born: str | int, *, region: str = "110105") -> str:
    """A valid 居民身份证号 (ISO 7064 MOD 11-2) for someone born on `born` (YYYYMMDD) or in the year `born`
    (a random day of it). The order code is random, so numbers rarely repeat across a test run."""
    if isinstance(born, int):
        born = (date(born, 1, 1) + timedelta(days=random.randrange(365))).strftime("%Y%m%d")
    body = f"{region}{born}{random.randrange(1000):03d}"
    return body + _CHECK[sum(int(d) * w for d, w in zip(body, _WEIGHTS)) % 11]
