"""The ledger's refusals, each a problem type with a reason an elder can read."""

from __future__ import annotations

from typing import Any

from servicekit.errors import Forbidden, UnprocessableInput


class InsufficientCoins(UnprocessableInput):
    type = "insufficient-coins"
    title_zh, title_en = "可用时间币不足", "Not enough available time coins"


class Under60(UnprocessableInput):
    type = "under-60"
    title_zh, title_en = "未满60周岁，暂不能兑换本人的时间币", "Own coins are redeemable from age 60"


class NotASpecialElder(UnprocessableInput):
    type = "not-a-special-elder"
    title_zh, title_en = "该老人不属于本区特殊老年群体", "This person is not a special elder of the district"


class OutsideDistrict(Forbidden):
    type = "outside-district"
    title_zh, title_en = "只能处理本区的老人", "Officers act only for elders of their own district"


def restricted_detail(**extra: Any) -> dict[str, str]:
    return {
        "detail_zh": "政府赠予和公益分配的时间币只能用于本人服务，不能转赠或捐出",
        "detail_en": "Granted and welfare-allocated coins pay only for the holder's own services",
        **extra,
    }
