"""Beijing's 16 districts by administrative code."""

from typing import Literal, get_args

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
# Spelled out so a type checker knows them too; the assertion keeps it and the table above the same.
District = Literal[
    "110101", "110102", "110105", "110106", "110107", "110108", "110109", "110111",
    "110112", "110113", "110114", "110115", "110116", "110117", "110118", "110119",
]  # fmt: skip
assert set(get_args(District)) == set(DISTRICTS), "District and DISTRICTS list the same codes"
