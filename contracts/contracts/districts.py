"""Beijing's 16 districts by administrative code."""

from typing import Literal

DISTRICTS: dict[str, str] = {
    "110101": "东城",
    "110102": "西城",
    "110105": "朝阳",
    "110106": "丰台",
    "110107": "石景山",
    "110108": "海淀",
    "110109": "门头沟",
    "110111": "房山",
    "110112": "通州",
    "110113": "顺义",
    "110114": "昌平",
    "110115": "大兴",
    "110116": "怀柔",
    "110117": "平谷",
    "110118": "密云",
    "110119": "延庆",
}

# A district code as an input field or query parameter: one of the sixteen, listed in the OpenAPI as an enum.
District = Literal[tuple(DISTRICTS)]  # type: ignore[valid-type]
