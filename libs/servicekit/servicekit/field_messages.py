"""Field errors in the caller's language: pydantic words its messages in English; people using the
mini-program and the console read Chinese. Each error type pydantic raises on the API's inputs has a Chinese
template here (its `ctx` fills the braces); a rule of our own raises a `PydanticCustomError` whose code is
registered with `custom_message`. English (`Accept-Language: en`) keeps pydantic's own text."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_ZH: dict[str, str] = {
    "missing": "必填",
    "extra_forbidden": "不允许的字段",
    "string_type": "须为字符串",
    "string_too_short": "至少 {min_length} 个字符",
    "string_too_long": "最多 {max_length} 个字符",
    "string_pattern_mismatch": "格式不正确",
    "string_unicode": "须为有效的 Unicode 字符串",
    "int_type": "须为整数",
    "int_parsing": "须为整数",
    "int_from_float": "须为整数",
    "int_parsing_size": "整数超出范围",
    "float_type": "须为数字",
    "float_parsing": "须为数字",
    "finite_number": "须为有限的数字",
    "decimal_type": "须为数字",
    "decimal_parsing": "须为数字",
    "greater_than": "须大于 {gt}",
    "greater_than_equal": "须不小于 {ge}",
    "less_than": "须小于 {lt}",
    "less_than_equal": "须不大于 {le}",
    "multiple_of": "须为 {multiple_of} 的倍数",
    "bool_type": "须为 true 或 false",
    "bool_parsing": "须为 true 或 false",
    "literal_error": "须为以下之一：{expected}",
    "enum": "须为以下之一：{expected}",
    "uuid_type": "须为 UUID",
    "uuid_parsing": "须为 UUID",
    "uuid_version": "UUID 版本不符",
    "date_type": "须为日期（YYYY-MM-DD）",
    "date_parsing": "须为日期（YYYY-MM-DD）",
    "date_from_datetime_parsing": "须为日期（YYYY-MM-DD）",
    "date_from_datetime_inexact": "须为日期（不含时刻）",
    "date_past": "须为过去的日期",
    "date_future": "须为将来的日期",
    "datetime_type": "须为 ISO 8601 时间",
    "datetime_parsing": "须为 ISO 8601 时间",
    "datetime_from_date_parsing": "须为 ISO 8601 时间",
    "datetime_object_invalid": "须为 ISO 8601 时间",
    "datetime_past": "须为过去的时间",
    "datetime_future": "须为将来的时间",
    "timezone_aware": "须带时区（如 +08:00）",
    "timezone_naive": "不可带时区",
    "time_type": "须为时刻（HH:MM）",
    "time_parsing": "须为时刻（HH:MM）",
    "list_type": "须为数组",
    "tuple_type": "须为数组",
    "set_type": "须为数组",
    "too_short": "至少 {min_length} 项",
    "too_long": "最多 {max_length} 项",
    "dict_type": "须为对象",
    "model_type": "须为对象",
    "model_attributes_type": "须为对象",
    "dataclass_type": "须为对象",
    "json_invalid": "JSON 格式错误",
    "json_type": "须为 JSON",
    "url_type": "须为网址",
    "url_parsing": "网址格式不正确",
    "url_scheme": "网址协议不正确",
    "union_tag_invalid": "类型标识不正确",
    "union_tag_not_found": "缺少类型标识",
    "value_error": "取值无效",
    "assertion_error": "取值无效",
}
_FALLBACK_ZH = "取值无效"


def custom_message(code: str, zh: str) -> None:
    """The Chinese text (with `{ctx}` braces) of a `PydanticCustomError` code raised by one of our validators."""
    _ZH[code] = zh


def field_message(error: Mapping[str, Any], *, english: bool) -> str:
    if english:
        return str(error.get("msg", ""))
    template = _ZH.get(str(error.get("type", "")), _FALLBACK_ZH)
    context = {k: str(v) for k, v in (error.get("ctx") or {}).items()}
    if "expected" in context:  # pydantic lists choices as "'a', 'b' or 'c'"
        context["expected"] = context["expected"].replace(" or ", "、").replace(", ", "、")
    try:
        return template.format(**context)
    except (KeyError, IndexError, ValueError):
        return template
