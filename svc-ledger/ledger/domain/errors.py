"""The ledger's refusals, each a problem type with a reason an elder can read."""

from __future__ import annotations

from servicekit.errors import Forbidden, UnprocessableInput


class InsufficientCoins(UnprocessableInput):
    type = "insufficient-coins"
    title_zh, title_en = "可用时间币不足", "Not enough available time coins"


class NotASpecialElder(UnprocessableInput):
    type = "not-a-special-elder"
    title_zh, title_en = "该老人不属于本区特殊老年群体", "This person is not a special elder of the district"


class OutsideDistrict(Forbidden):
    type = "outside-district"
    title_zh, title_en = "只能处理本区的老人", "Officers act only for elders of their own district"
