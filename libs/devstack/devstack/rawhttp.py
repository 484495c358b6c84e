"""HTTP/1.1 by hand, for tests that need what client libraries do not do: send bytes as they are, or read the
answer to an upload while still sending it."""

from __future__ import annotations

import asyncio
import contextlib
import ssl as tls


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """(status, headers with lower-case names, body) of the next response on the stream."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    status = int(head[0].split(" ")[1])
    headers = {}
    for line in head[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        body = b""
        while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
            body += (await reader.readexactly(size + 2))[:-2]
    else:
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


async def upload(
    host: str,
    port: int,
    path: str,
    size: int,
    *,
    content_type: str = "application/json",
    ssl: tls.SSLContext | None = None,
    timeout: float = 30,
) -> tuple[int, dict[str, str], bytes]:
    """POST a body of `size` bytes and read the answer while sending it, as browsers do. A server refusing a body
    too large answers before it is all sent and closes the connection (over HTTP/1.1 the only way to stop an
    upload); a client that reads only once it has sent everything may read the reset instead of the answer
    (RFC 9112 §9.6: httpx does, when the machine is loaded)."""
    reader, writer = await asyncio.open_connection(host, port, ssl=ssl, server_hostname=host if ssl else None)
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\nContent-Length: {size}\r\n\r\n".encode()
    )

    async def send() -> None:
        with contextlib.suppress(ConnectionError):
            for start in range(0, size, 65536):
                writer.write(b"x" * min(65536, size - start))
                await writer.drain()

    sending = asyncio.create_task(send())
    try:
        async with asyncio.timeout(timeout):
            return await read_response(reader)
    finally:
        sending.cancel()
        await asyncio.gather(sending, return_exceptions=True)
        writer.close()
