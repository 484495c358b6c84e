"""Made-up people for tests and benchmarks."""

from __future__ import annotations

import random
from datetime import date, timedelta

_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
_CHECK = "10X98765432"
_ISSUED: set[str] = set()


def resident_number(born: str | int, *, region: str = "110105") -> str:
    """A valid 居民身份证号 (ISO 7064 MOD 11-2) for someone born on `born` (YYYYMMDD) or in the year `born`
    (a random day of it), never the same twice in this process: a test run makes hundreds of people born in
    the same year, and random day and order code alone repeated (the birthday paradox) often enough to fail
    a run now and then with "number taken"."""
    while True:
        day = (
            born
            if isinstance(born, str)
            else (date(born, 1, 1) + timedelta(days=random.randrange(365))).strftime("%Y%m%d")
        )
        body = f"{region}{day}{random.randrange(1000):03d}"
        number = body + _CHECK[sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True)) % 11]
        if number not in _ISSUED:
            _ISSUED.add(number)
            return number
