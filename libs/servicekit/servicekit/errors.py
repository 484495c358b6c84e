"""RFC 9457 problem details. Errors are typed exceptions; one set of handlers renders them.

Human text is Simplified Chinese by default (the mini-program shows it to elders) and English for
`Accept-Language: en`.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from servicekit.field_messages import custom_message, field_message

PROBLEM_BASE = "https://timebank.beijing.example/problems/"
PROBLEM_JSON = "application/problem+json"
log = logging.getLogger(__name__)


class Problem(Exception):
    """Base of every expected error: a stable `type`, a status, and bilingual titles."""

    status: int = 400
    type: str = "bad-request"
    title_zh: str = "请求有误"
    title_en: str = "Bad request"

    def __init__(self, detail_zh: str | None = None, detail_en: str | None = None, **extra: Any) -> None:
        super().__init__(detail_en or detail_zh or self.title_en)
        self.detail_zh = detail_zh
        self.detail_en = detail_en or detail_zh
        self.extra = extra
        self.headers: dict[str, str] = {}


class Unauthorized(Problem):
    status, type, title_zh, title_en = 401, "unauthorized", "未登录或凭证无效", "Not authenticated"

    def __init__(self, detail_zh: str | None = None, detail_en: str | None = None, **extra: Any) -> None:
        super().__init__(detail_zh, detail_en, **extra)
        self.headers["WWW-Authenticate"] = 'Bearer realm="timebank"'


class Forbidden(Problem):
    status, type, title_zh, title_en = 403, "forbidden", "无权执行此操作", "Forbidden"


class NotFound(Problem):
    status, type, title_zh, title_en = 404, "not-found", "未找到", "Not found"


class Conflict(Problem):
    status, type, title_zh, title_en = 409, "conflict", "与当前状态冲突", "Conflict"


class UnprocessableInput(Problem):
    status, type, title_zh, title_en = 422, "validation-error", "输入不符合要求", "Invalid input"


class PayloadTooLarge(Problem):
    status, type, title_zh, title_en = 413, "payload-too-large", "请求内容过大", "Payload too large"

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"请求内容不能超过 {limit} 字节", f"The request body may not exceed {limit} bytes", limit=limit
        )


class ServiceUnavailable(Problem):
    status, type, title_zh, title_en = 503, "service-unavailable", "服务暂不可用，请稍后再试", "Service unavailable"


_ERROR_CODE_PROBLEMS: dict[str, type[Problem]] = {}


def problem_for_error_code(code: str, problem: type[Problem]) -> None:
    """Answer a 422 whose every field error has this code (a pydantic custom error raised by a validator) with
    `problem`'s type and title instead of the generic validation error; the title is also the field's message."""
    _ERROR_CODE_PROBLEMS[code] = problem
    custom_message(code, problem.title_zh)


def wants_english(request: Request) -> bool:
    return request.headers.get("accept-language", "").lower().lstrip().startswith("en")


def problem_body(
    request: Request,
    *,
    status: int,
    type_: str,
    title_zh: str,
    title_en: str,
    detail_zh: str | None = None,
    detail_en: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    english = wants_english(request)
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + type_,
        "title": title_en if english else title_zh,
        "status": status,
        "instance": request.scope.get("path", ""),  # not request.url: it re-parses a path holding '#' or '?'
    }
    detail = detail_en if english else detail_zh
    if detail:
        body["detail"] = detail
    if extra:
        body.update(extra)
    request_id = getattr(request.state, "request_id", None)
    if request_id:
        body["request_id"] = request_id
    return body


def problem_response(
    request: Request, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


_STATUS_TEXT = {
    400: ("bad-request", "请求有误", "Bad request"),
    401: ("unauthorized", "未登录或凭证无效", "Not authenticated"),
    403: ("forbidden", "无权执行此操作", "Forbidden"),
    404: ("not-found", "未找到", "Not found"),
    405: ("method-not-allowed", "不支持该请求方法", "Method not allowed"),
    413: ("payload-too-large", "请求内容过大", "Payload too large"),
    415: ("unsupported-media-type", "不支持的内容类型", "Unsupported media type"),
    429: ("rate-limited", "请求过于频繁，请稍后再试", "Too many requests"),
}


def render_problem(request: Request, exc: Problem) -> JSONResponse:
    body = problem_body(
        request,
        status=exc.status,
        type_=exc.type,
        title_zh=exc.title_zh,
        title_en=exc.title_en,
        detail_zh=exc.detail_zh,
        detail_en=exc.detail_en,
        extra=exc.extra,
    )
    return problem_response(request, exc.status, body, exc.headers)


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return render_problem(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        english = wants_english(request)
        errors = [
            {
                "location": [str(p) for p in err.get("loc", ())],
                "message": field_message(err, english=english),
                "code": err.get("type", ""),
            }
            for err in exc.errors()
        ]
        # A rule checked while validating (a position outside Beijing) keeps its own stable problem type.
        kinds = {_ERROR_CODE_PROBLEMS.get(error["code"]) for error in errors}
        kind = kinds.pop() if len(kinds) == 1 else None
        if kind is not None:
            body = problem_body(
                request,
                status=422,
                type_=kind.type,
                title_zh=kind.title_zh,
                title_en=kind.title_en,
                extra={"errors": errors},
            )
        else:
            body = problem_body(
                request,
                status=422,
                type_="validation-error",
                title_zh="输入不符合要求",
                title_en="Invalid input",
                detail_zh="请检查标出的字段",
                detail_en="Check the fields listed in errors",
                extra={"errors": errors},
            )
        return problem_response(request, 422, body)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        type_, zh, en = _STATUS_TEXT.get(exc.status_code, ("http-error", "请求失败", "Request failed"))
        body = problem_body(request, status=exc.status_code, type_=type_, title_zh=zh, title_en=en)
        return problem_response(request, exc.status_code, body, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        body = problem_body(
            request, status=500, type_="internal-error", title_zh="系统内部错误", title_en="Internal error"
        )
        return problem_response(request, 500, body)
