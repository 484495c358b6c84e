"""What the gateway accepts as a request path, and what it forwards.

The gateway routes on the decoded path but forwards the path *as received* (percent-escapes intact), so the
upstream decodes exactly what the route table saw: an encoded `#` or `?` stays inside its segment instead of
becoming a fragment or a query on the way in. Anything whose decoding could change which resource a path
names is refused before routing: dot segments (`..`, `%2e%2e`), encoded slashes and backslashes, empty
segments, control characters, malformed escapes and bytes that are not UTF-8. Without this an encoded
`../` in an id walked out of `/api/v1/...` into a service's `/metrics` or `/openapi.json`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from servicekit.errors import Problem, render_problem

_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")
_ENCODED_SEPARATOR = re.compile(rb"%(2[Ff]|5[Cc])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class BadPath(Problem):
    status, type, title_zh, title_en = 400, "bad-path", "请求路径无效", "Invalid request path"


@dataclass(frozen=True)
class RequestPath:
    decoded: str  # what the route table and the public-route list match
    raw: str  # what is forwarded: the received bytes, percent-escapes intact


def checked_path(raw_path: bytes) -> RequestPath:
    """The request's path if it names one resource unambiguously; BadPath otherwise."""
    if not raw_path.startswith(b"/") or not raw_path.isascii():
        raise BadPath("路径必须以 / 开头且只含 ASCII 字符", "The path must start with / and be ASCII")
    if _ESCAPE.search(raw_path):
        raise BadPath("路径中有无效的百分号编码", "The path has a malformed percent-escape")
    if _ENCODED_SEPARATOR.search(raw_path) or b"\\" in raw_path:
        raise BadPath("路径中不允许编码的斜杠或反斜杠", "Encoded slashes and backslashes are not allowed in the path")
    try:
        decoded = unquote_to_bytes(raw_path).decode("utf-8")
    except UnicodeDecodeError:
        raise BadPath("路径不是有效的 UTF-8", "The path is not valid UTF-8") from None
    if _CONTROL.search(decoded):
        raise BadPath("路径中不允许控制字符", "Control characters are not allowed in the path")
    segments = decoded.split("/")[1:]
    if any(segment in (".", "..") for segment in segments):
        raise BadPath("路径中不允许 . 或 .. 段", "Dot segments are not allowed in the path")
    if "" in segments[:-1]:  # `//` inside; one trailing slash is left to the service
        raise BadPath("路径中不允许空段", "Empty path segments are not allowed")
    return RequestPath(decoded=decoded, raw=raw_path.decode("ascii"))


class CheckedPathMiddleware:
    """Refuses a bad path before routing (a control character would not even match the catch-all route) and
    leaves the checked path in `scope["state"]["path"]` for the proxy."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            scope.setdefault("state", {})["path"] = checked_path(scope.get("raw_path") or scope["path"].encode())
        except BadPath as exc:
            await render_problem(Request(scope), exc)(scope, receive, send)
            return
        await self.app(scope, receive, send)
