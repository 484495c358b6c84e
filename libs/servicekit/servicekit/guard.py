"""What no handler may see, refused before any handler runs.

PostgreSQL text cannot hold a NUL character, and a string with a lone UTF-16 surrogate cannot be encoded as
UTF-8 at all: either one, let through, fails deep inside a query as a 500 — from a login code, a filter, a
reason, an item name, whichever field the text came in. No real client sends them, so the guard refuses
them wherever text enters (path, query string, body) with one 422 problem, and bodies over the limit with
413. JSON is checked on its escapes without parsing (a raw NUL is invalid JSON and already refused by the
parser).
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servicekit.errors import PayloadTooLarge, Problem, UnprocessableInput, render_problem

_JSON_ESCAPE = re.compile(rb"(\\+)u([0-9a-fA-F]{4})")
_PERCENT_NUL = re.compile(rb"%00")


def _json_text_flaw(body: bytes) -> str | None:
    """ "nul" or "surrogate" if a JSON text escapes a NUL or a lone surrogate; None otherwise."""
    pending_high = None  # end of a high-surrogate escape that still needs its low half right after it
    for match in _JSON_ESCAPE.finditer(body):
        if len(match.group(1)) % 2 == 0:  # `\\u0000` is an escaped backslash followed by text
            continue
        code = int(match.group(2), 16)
        start = match.end(1) - 1
        if pending_high is not None and (start != pending_high or not 0xDC00 <= code <= 0xDFFF):
            return "surrogate"
        if code == 0:
            return "nul"
        if 0xD800 <= code <= 0xDBFF:
            pending_high = match.end()
        elif 0xDC00 <= code <= 0xDFFF:
            if pending_high is None:
                return "surrogate"
            pending_high = None
    return "surrogate" if pending_high is not None else None


def text_flaw(content_type: str, body: bytes) -> str | None:
    if b"\x00" in body:
        return "nul"
    if "json" in content_type:
        return _json_text_flaw(body)
    if content_type.startswith("application/x-www-form-urlencoded") and _PERCENT_NUL.search(body):
        return "nul"
    return None


class InvalidText(UnprocessableInput):
    type = "invalid-text"
    title_zh, title_en = "输入不符合要求", "Invalid input"


_FLAWS = {
    "nul": InvalidText("请求中不允许出现空字符 (U+0000)", "The request may not contain a NUL character (U+0000)"),
    "surrogate": InvalidText(
        "请求中有无效的 Unicode 字符（孤立代理项）",
        "The request contains an invalid Unicode character (lone surrogate)",
    ),
}


class RequestGuard:
    """Pure ASGI: buffers the body (bounded by `max_body_bytes`), checks it, and hands it on whole."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope["path"] or _PERCENT_NUL.search(scope["query_string"]):
            await self._refuse(scope, receive, send, _FLAWS["nul"])
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._refuse(scope, receive, send, PayloadTooLarge(self.max_body_bytes))
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            body += message.get("body", b"")
            if len(body) > self.max_body_bytes:
                await self._refuse(scope, receive, send, PayloadTooLarge(self.max_body_bytes))
                return
            if not message.get("more_body", False):
                break
        flaw = text_flaw(headers.get(b"content-type", b"").decode("latin-1").lower(), bytes(body)) if body else None
        if flaw is not None:
            await self._refuse(scope, receive, send, _FLAWS[flaw])
            return
        handed_on = False

        async def replay() -> Message:
            nonlocal handed_on
            if not handed_on:
                handed_on = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, problem: Problem) -> None:
        await render_problem(Request(scope), problem)(scope, receive, send)
