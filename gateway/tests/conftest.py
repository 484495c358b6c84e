from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from devstack import rawhttp


@dataclass
class RawUpstream:
    """A tiny HTTP/1.1 server on loopback whose behaviour a test chooses: echo, hang, or talk nonsense."""

    mode: str = "echo"
    location: str = ""  # mode "redirect": where the upstream sends the client
    seen: list[dict] = field(default_factory=list)
    server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers: dict[str, str] = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers.setdefault(name.strip().lower(), value.strip())
                body = b""
                if "content-length" in headers:
                    body = await reader.readexactly(int(headers["content-length"]))
                elif headers.get("transfer-encoding") == "chunked":
                    while True:
                        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
                        chunk = await reader.readexactly(size + 2)
                        if size == 0:
                            break
                        body += chunk[:-2]
                self.seen.append({"method": method, "target": target, "headers": headers, "body_length": len(body)})
                if self.mode == "hang":
                    await asyncio.sleep(3600)
                if self.mode == "garbage":
                    writer.write(b"this is not HTTP\r\n\r\n")
                    await writer.drain()
                    writer.close()
                    return
                if self.mode == "redirect":
                    location = self.location.replace("{self}", self.url)
                    writer.write(
                        b"HTTP/1.1 307 Temporary Redirect\r\ncontent-length: 0\r\n"
                        + f"location: {location}\r\n\r\n".encode()
                    )
                    await writer.drain()
                    continue
                payload = json.dumps({"target": target, "body_length": len(body)}).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    b"set-cookie: session=secret-of-someone; Path=/\r\nconnection: keep-alive, x-internal\r\n"
                    b"x-internal: hop\r\nx-upstream: yes\r\n"
                    + f"content-length: {len(payload)}\r\n\r\n".encode()
                    + payload
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, asyncio.CancelledError):
            writer.close()


async def _raw_request(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are (no client library normalises `../` or escapes on the way) and read the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        return await rawhttp.read_response(reader)
    finally:
        writer.close()


@pytest.fixture
def raw_request():
    """`await raw_request(port, bytes)` → (status, headers, body)."""
    return _raw_request


@pytest.fixture
async def upstream() -> AsyncIterator[RawUpstream]:
    raw = RawUpstream()
    raw.server = await asyncio.start_server(raw.handle, "127.0.0.1", 0)
    yield raw
    raw.server.close()
