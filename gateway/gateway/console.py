"""The staff console's files, served under /console/ on the API's own origin: the console is a client of the public
API like the mini-program, and one origin keeps its refresh cookie first-party and needs no CORS.

Every answer carries a Content-Security-Policy that lets the page run only the project's own scripts and talk only
to this origin, so injected markup can neither load code nor send data elsewhere. Built assets have content-hashed
names and are cached for a year; the page itself is revalidated every time so a release reaches staff at once.
Paths the files do not have are the console's own routes (history mode): they get the page."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, RedirectResponse, Response

from servicekit.errors import NotFound

PREFIX = "/console"
# 'unsafe-inline' for styles only: Element Plus positions popovers and tables with style attributes.
POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def serve_console(app: FastAPI, directory: Path) -> None:
    root = directory.resolve()
    page = root / "index.html"

    @app.get(PREFIX, include_in_schema=False)
    async def console_root() -> Response:
        return RedirectResponse(PREFIX + "/", status_code=308)

    @app.get(PREFIX + "/{path:path}", include_in_schema=False)
    async def console_file(path: str) -> Response:
        if not page.is_file():
            raise NotFound("工作台尚未构建（make console）", "The console is not built (make console)")
        wanted = (root / path).resolve()
        if path and wanted.is_relative_to(root) and wanted.is_file():
            immutable = wanted.parent == root / "assets"
            cache = "public, max-age=31536000, immutable" if immutable else "no-cache"
            return FileResponse(wanted, headers=HEADERS | {"Cache-Control": cache})
        if path.startswith("assets/"):
            raise NotFound("没有这个文件", "No such file")  # a stale asset name must not get the page as script
        return FileResponse(page, headers=HEADERS | {"Cache-Control": "no-cache"})
