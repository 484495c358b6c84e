"""A small S3-compatible object store on local disk: where the embedded Tansu keeps its log (`--storage-engine
s3://…`), so topics, records and committed offsets survive a restart of the broker (ADR 15).

The shipped Tansu has only its memory and S3 engines compiled in; this is the part of the S3 API its engine
uses — buckets, objects with conditional writes (`If-None-Match: *` creates, `If-Match: <etag>` replaces: the
engine's watermarks and group state are compare-and-swap on these), ranged and conditional reads, deletes
(one and bulk), copies and ListObjectsV2 — and nothing else: no signatures are checked (it listens on loopback
only), no versions, no multipart uploads.

Every write is one record appended to one file, `root/objects.log` (an object's bucket, key, modification time,
MD5 and bytes, under a CRC), and an index in memory says where each live object's bytes are. Creating a file
costs 0.3–0.5 ms on the ext4 disks here and appending 2 µs, and Tansu writes an object for every produce,
watermark move and offset commit (ADR 15's amendment has the figures). One event loop serves every request,
and the precondition check and the append happen with no await between them, so two writers racing on one key
cannot both win. A record is written by one `write`, so a killed process leaves whole records (the page cache
outlives it); a torn last record (a power cut) fails its CRC and is cut off at the next start, and what it
held the services' outboxes publish again (ADR 13). Nothing is fsync'ed. When the records no longer live
outnumber the live ones (and pass `compact_after` bytes), the live ones are copied to a new file that replaces
the log.

    python -m devstack.objectstore --root .data/broker --port 9093
"""

from __future__ import annotations

import argparse
import base64
import functools
import hashlib
import logging
import mmap
import os
import shutil
import struct
import sys
import time
import zlib
from bisect import bisect_left, insort
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from aiohttp import web

log = logging.getLogger(__name__)

_XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"
_MAX_KEYS = 1000
LOG_NAME = "objects.log"

# A record: CRC-32 of everything after it, then kind, bucket and key lengths, data length, modification time
# (ns), the data's MD5; then bucket, key and data.
_HEADER = struct.Struct("<IBHHIq16s")
_PUT, _DELETE, _BUCKET = 1, 2, 3


@dataclass(frozen=True)
class _Object:
    etag: str  # quoted, as S3 sends it
    size: int
    modified_ns: int
    offset: int  # where its bytes are in the log
    record: int  # the length of its record, header included

    @property
    def modified(self) -> datetime:
        return _moment(self.modified_ns)


def _moment(ns: int) -> datetime:
    seconds, nanoseconds = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=nanoseconds // 1000)


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _record(kind: int, bucket: str, key: str, data: bytes, modified_ns: int, digest: bytes) -> bytes:
    bucket_bytes, key_bytes = bucket.encode(), key.encode()
    names = bucket_bytes + key_bytes
    body = _HEADER.pack(0, kind, len(bucket_bytes), len(key_bytes), len(data), modified_ns, digest)[4:]
    return struct.pack("<I", zlib.crc32(data, zlib.crc32(names, zlib.crc32(body)))) + body + names + data


def _write_whole(fd: int, data: bytes) -> int:
    written = os.write(fd, data)
    if written != len(data):
        raise OSError(f"wrote {written} of {len(data)} bytes (is the disk full?)")
    return written


class Store:
    """Buckets of objects in one append-only log, with an index in memory: each object's place in the log, and a
    sorted list of keys per bucket for listing by prefix."""

    def __init__(self, root: Path, *, compact_after: int = 64 * 1024 * 1024) -> None:
        self.root = root
        self.path = root / LOG_NAME
        self.compact_after = compact_after
        self._objects: dict[str, dict[str, _Object]] = {}
        self._keys: dict[str, list[str]] = {}
        self._last_modified_ns = 0
        self._live = 0  # bytes of the log's records that hold live objects or buckets
        (root / f"{LOG_NAME}.compacting").unlink(missing_ok=True)  # a compaction a kill cut short
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        self._size = self._load()
        self._import_files()

    def _load(self) -> int:
        """Rebuild the index from the log; returns the length of its whole records (a torn tail is cut off)."""
        size = os.fstat(self._fd).st_size
        if not size:
            return 0
        with mmap.mmap(self._fd, size, access=mmap.ACCESS_READ) as view:
            at = 0
            while at + _HEADER.size <= size:
                crc, kind, bucket_len, key_len, data_len, modified_ns, digest = _HEADER.unpack_from(view, at)
                end = at + _HEADER.size + bucket_len + key_len + data_len
                if end > size or zlib.crc32(view[at + 4 : end]) != crc:
                    break
                names = view[at + _HEADER.size : at + _HEADER.size + bucket_len + key_len]
                bucket, key = names[:bucket_len].decode(), names[bucket_len:].decode()
                self._apply(kind, bucket, key, _etag_of(digest), data_len, modified_ns, end - data_len, end - at)
                at = end
        if at < size:
            log.warning("the broker store's log ends in a torn record: cut at byte %d of %d", at, size)
            os.ftruncate(self._fd, at)
        return at

    def _apply(
        self, kind: int, bucket: str, key: str, etag: str, size: int, modified_ns: int, offset: int, record: int
    ) -> _Object | None:
        """A record's effect on the index (at load, and after each append)."""
        if kind == _BUCKET:
            if bucket not in self._objects:
                self._objects[bucket], self._keys[bucket] = {}, []
                self._live += record
            return None
        objects, keys = self._objects[bucket], self._keys[bucket]
        if kind == _DELETE:
            gone = objects.pop(key, None)
            if gone is not None:
                self._live -= gone.record
                del keys[bisect_left(keys, key)]
            return None
        replaced = objects.get(key)
        if replaced is not None:
            self._live -= replaced.record
        else:
            insort(keys, key)
        stored = objects[key] = _Object(etag, size, modified_ns, offset, record)
        self._live += record
        self._last_modified_ns = max(self._last_modified_ns, modified_ns)
        return stored

    def _append(self, kind: int, bucket: str, key: str = "", data: bytes = b"", modified_ns: int = 0) -> _Object | None:
        digest = hashlib.md5(data, usedforsecurity=False).digest() if kind == _PUT else bytes(16)
        record = _record(kind, bucket, key, data, modified_ns, digest)
        try:
            _write_whole(self._fd, record)  # O_APPEND: one write, so a kill leaves the record whole or not at all
        except OSError:
            os.ftruncate(self._fd, self._size)  # a short write (a full disk) leaves no torn record behind
            raise
        offset, self._size = self._size, self._size + len(record)
        stored = self._apply(
            kind, bucket, key, _etag_of(digest), len(data), modified_ns, offset + len(record) - len(data), len(record)
        )
        if self._size - self._live > max(self.compact_after, self._live):
            self._compact()
        return stored

    def _compact(self) -> None:
        """Copy the live records to a new log that replaces this one (a kill meanwhile leaves the old one)."""
        fresh = self.root / f"{LOG_NAME}.compacting"
        fd = os.open(fresh, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        moved: dict[str, dict[str, _Object]] = {}
        try:
            at = 0
            for bucket, objects in self._objects.items():
                at += _write_whole(fd, _record(_BUCKET, bucket, "", b"", 0, bytes(16)))
                moved[bucket] = {}
                for key, found in objects.items():
                    at += _write_whole(fd, os.pread(self._fd, found.record, found.offset + found.size - found.record))
                    moved[bucket][key] = _Object(
                        found.etag, found.size, found.modified_ns, at - found.size, found.record
                    )
            os.replace(fresh, self.path)
        except BaseException:
            os.close(fd)
            fresh.unlink(missing_ok=True)
            raise
        os.close(self._fd)
        self._fd, self._size, self._live, self._objects = fd, at, at, moved

    def _import_files(self) -> None:
        """A store kept by an earlier version holds one file per object (`root/<bucket>/<key>`): taken into the
        log with their modification times, then removed."""
        shutil.rmtree(self.root / ".incoming", ignore_errors=True)
        for base in sorted(p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            self.create_bucket(base.name)
            files = sorted((p.stat().st_mtime_ns, p) for p in base.rglob("*") if p.is_file())
            for modified_ns, path in files:
                key = path.relative_to(base).as_posix()
                self._append(_PUT, base.name, key, path.read_bytes(), modified_ns)
            shutil.rmtree(base)

    def close(self) -> None:
        os.close(self._fd)

    def create_bucket(self, bucket: str) -> None:
        if bucket not in self._objects:
            self._append(_BUCKET, bucket)

    def head(self, bucket: str, key: str) -> _Object:
        found = self._bucket(bucket).get(key)
        if found is None:
            raise _Refused(404, "NoSuchKey", "The specified key does not exist.")
        return found

    def read(self, bucket: str, key: str) -> tuple[_Object, bytes]:
        found = self.head(bucket, key)
        return found, os.pread(self._fd, found.size, found.offset)

    def put(self, bucket: str, key: str, data: bytes, *, if_match: str | None, if_none_match: str | None) -> _Object:
        current = self._bucket(bucket).get(key)
        _check_preconditions(current, if_match=if_match, if_none_match=if_none_match)
        stored = self._append(_PUT, bucket, key, data, self._next_modified_ns())
        assert stored is not None
        return stored

    def _next_modified_ns(self) -> int:
        """Modification times strictly increase, a microsecond apart at least, and are kept in the log: Tansu takes
        the object modified last as a partition's newest batch, so two batches must never tie (the clock is
        coarser than a burst of writes)."""
        self._last_modified_ns = max(time.time_ns(), self._last_modified_ns + 1000) // 1000 * 1000
        return self._last_modified_ns

    def delete(self, bucket: str, key: str) -> None:
        if key in self._bucket(bucket):
            self._append(_DELETE, bucket, key)

    def list(
        self, bucket: str, *, prefix: str, after: str, delimiter: str, limit: int
    ) -> tuple[list[tuple[str, _Object]], list[str], str | None]:
        """Keys under `prefix` after `after`, up to `limit` entries (objects and common prefixes together);
        the last key returned when there are more."""
        objects, keys = self._bucket(bucket), self._keys[bucket]
        contents: list[tuple[str, _Object]] = []
        prefixes: list[str] = []
        i = bisect_left(keys, max(prefix, after))
        last = None
        while i < len(keys) and keys[i].startswith(prefix):
            key = keys[i]
            if key <= after:
                i += 1
                continue
            if len(contents) + len(prefixes) == limit:
                return contents, prefixes, last
            cut = key.find(delimiter, len(prefix)) if delimiter else -1
            if cut >= 0:
                common = key[: cut + len(delimiter)]
                prefixes.append(common)
                last = common
                # Skip every key under this common prefix.
                i = bisect_left(keys, common[:-1] + chr(ord(common[-1]) + 1))
                continue
            contents.append((key, objects[key]))
            last = key
            i += 1
        return contents, prefixes, None

    def _bucket(self, bucket: str) -> dict[str, _Object]:
        try:
            return self._objects[bucket]
        except KeyError:
            raise _Refused(404, "NoSuchBucket", "The specified bucket does not exist.") from None


def _check_preconditions(current: _Object | None, *, if_match: str | None, if_none_match: str | None) -> None:
    if (
        if_none_match is not None
        and current is not None
        and (if_none_match.strip() == "*" or current.etag in _etags(if_none_match))
    ):
        raise _Refused(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
    if if_match is not None and (current is None or (if_match.strip() != "*" and current.etag not in _etags(if_match))):
        if current is None:
            raise _Refused(404, "NoSuchKey", "The specified key does not exist.")
        raise _Refused(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold")


def _etags(header: str) -> set[str]:
    return {tag.strip() for tag in header.split(",")}


def _etag_of(digest: bytes) -> str:
    return f'"{digest.hex()}"'


def _valid_key(key: str) -> bool:
    parts = key.split("/")
    return bool(key) and "" not in parts and "." not in parts and ".." not in parts and "\x00" not in key


# --- HTTP ------------------------------------------------------------------------------------------------------


def make_app(store: Store) -> web.Application:
    async def bucket_or_object(request: web.Request) -> web.StreamResponse:
        bucket, key = request.match_info["bucket"], request.match_info.get("key", "")
        try:
            if bucket.startswith(".") or (key and not _valid_key(key)):
                raise _Refused(400, "InvalidArgument", "Invalid bucket or key name.")
            if not key:
                return await _bucket_request(store, request, bucket)
            return await _object_request(store, request, bucket, key)
        except _Refused as refused:
            return _error(refused, request)

    app = web.Application(client_max_size=256 * 1024 * 1024)
    app.router.add_route("*", "/{bucket}", bucket_or_object)
    app.router.add_route("*", "/{bucket}/", bucket_or_object)
    app.router.add_route("*", "/{bucket}/{key:.+}", bucket_or_object)
    return app


async def _bucket_request(store: Store, request: web.Request, bucket: str) -> web.StreamResponse:
    if request.method == "PUT":
        store.create_bucket(bucket)
        return web.Response(status=200, headers={"Location": f"/{bucket}"})
    if request.method == "HEAD":
        store.list(bucket, prefix="", after="", delimiter="", limit=0)
        return web.Response(status=200)
    if request.method == "POST" and "delete" in request.query:
        return await _delete_many(store, request, bucket)
    if request.method == "GET":
        return _list(store, request, bucket)
    raise _Refused(501, "NotImplemented", f"{request.method} on a bucket is not implemented.")


async def _object_request(store: Store, request: web.Request, bucket: str, key: str) -> web.StreamResponse:
    method = request.method
    if method == "PUT":
        source = request.headers.get("x-amz-copy-source")
        if source is not None:
            src_bucket, _, src_key = source.lstrip("/").partition("/")
            _, data = store.read(src_bucket, _unquote(src_key))
        else:
            data = await request.read()
            expected = request.headers.get("Content-MD5")
            if expected is not None and base64.b64decode(expected) != hashlib.md5(data, usedforsecurity=False).digest():
                raise _Refused(400, "BadDigest", "The Content-MD5 you specified did not match what we received.")
        stored = store.put(
            bucket,
            key,
            data,
            if_match=request.headers.get("If-Match"),
            if_none_match=request.headers.get("If-None-Match"),
        )
        if source is not None:
            body = (
                f'<?xml version="1.0" encoding="UTF-8"?><CopyObjectResult xmlns="{_XMLNS}">'
                f"<LastModified>{_iso(stored.modified)}</LastModified><ETag>{escape(stored.etag)}</ETag>"
                "</CopyObjectResult>"
            )
            return web.Response(body=body.encode(), content_type="application/xml", headers={"ETag": stored.etag})
        return web.Response(status=200, headers={"ETag": stored.etag})
    if method in ("GET", "HEAD"):
        found = store.head(bucket, key)
        not_modified = _read_preconditions(found, request)
        headers = {
            "ETag": found.etag,
            "Last-Modified": format_datetime(found.modified, usegmt=True),
            "Accept-Ranges": "bytes",
        }
        if not_modified:
            return web.Response(status=304, headers=headers)
        if method == "HEAD":
            return web.Response(status=200, headers={**headers, "Content-Length": str(found.size)})
        _, data = store.read(bucket, key)
        return _ranged(data, request.headers.get("Range"), headers)
    if method == "DELETE":
        store.delete(bucket, key)
        return web.Response(status=204)
    raise _Refused(501, "NotImplemented", f"{method} on an object is not implemented.")


def _read_preconditions(found: _Object, request: web.Request) -> bool:
    """True when the answer is 304; raises when a read precondition fails."""
    if_match = request.headers.get("If-Match")
    if if_match is not None and if_match.strip() != "*" and found.etag not in _etags(if_match):
        raise _Refused(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
    if_none_match = request.headers.get("If-None-Match")
    return if_none_match is not None and (if_none_match.strip() == "*" or found.etag in _etags(if_none_match))


def _ranged(data: bytes, header: str | None, headers: dict[str, str]) -> web.Response:
    if not header or not header.startswith("bytes="):
        return web.Response(body=data, headers=headers, content_type="application/octet-stream")
    first, _, last = header[len("bytes=") :].partition("-")
    size = len(data)
    try:
        if first:
            start, end = int(first), (int(last) if last else size - 1)
        else:
            start, end = max(0, size - int(last)), size - 1
    except ValueError:
        raise _Refused(400, "InvalidArgument", "Invalid Range header.") from None
    if start >= size or start > end:
        raise _Refused(416, "InvalidRange", "The requested range is not satisfiable")
    end = min(end, size - 1)
    return web.Response(
        status=206,
        body=data[start : end + 1],
        content_type="application/octet-stream",
        headers={**headers, "Content-Range": f"bytes {start}-{end}/{size}"},
    )


def _list(store: Store, request: web.Request, bucket: str) -> web.Response:
    query = request.query
    prefix, delimiter = query.get("prefix", ""), query.get("delimiter", "")
    token = query.get("continuation-token")
    after = base64.urlsafe_b64decode(token).decode() if token else query.get("start-after", "")
    try:
        limit = max(0, min(_MAX_KEYS, int(query.get("max-keys", _MAX_KEYS))))
    except ValueError:
        raise _Refused(400, "InvalidArgument", "max-keys must be a number.") from None
    contents, prefixes, last = store.list(bucket, prefix=prefix, after=after, delimiter=delimiter, limit=limit)
    parts = [
        f'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="{_XMLNS}">',
        f"<Name>{escape(bucket)}</Name><Prefix>{escape(prefix)}</Prefix><KeyCount>{len(contents) + len(prefixes)}"
        f"</KeyCount><MaxKeys>{limit}</MaxKeys><IsTruncated>{'true' if last else 'false'}</IsTruncated>",
    ]
    if delimiter:
        parts.append(f"<Delimiter>{escape(delimiter)}</Delimiter>")
    if token:
        parts.append(f"<ContinuationToken>{escape(token)}</ContinuationToken>")
    if last:
        parts.append(
            f"<NextContinuationToken>{base64.urlsafe_b64encode(last.encode()).decode()}</NextContinuationToken>"
        )
    parts += [_listed(key, found.etag, found.size, found.modified_ns) for key, found in contents]
    for common in prefixes:
        parts.append(f"<CommonPrefixes><Prefix>{escape(common)}</Prefix></CommonPrefixes>")
    parts.append("</ListBucketResult>")
    return web.Response(body="".join(parts).encode(), content_type="application/xml")


async def _delete_many(store: Store, request: web.Request, bucket: str) -> web.Response:
    try:
        document = ElementTree.fromstring(await request.read())
    except ElementTree.ParseError:
        raise _Refused(400, "MalformedXML", "The XML you provided was not well-formed.") from None
    deleted = []
    for element in document.iter():
        if element.tag.rsplit("}", 1)[-1] == "Key" and element.text:
            store.delete(bucket, element.text)
            deleted.append(element.text)
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?><DeleteResult xmlns="{_XMLNS}">'
        + "".join(f"<Deleted><Key>{escape(key)}</Key></Deleted>" for key in deleted)
        + "</DeleteResult>"
    )
    return web.Response(body=body.encode(), content_type="application/xml")


def _error(refused: _Refused, request: web.Request) -> web.Response:
    if request.method == "HEAD":
        return web.Response(status=refused.status)
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{refused.code}</Code>'
        f"<Message>{escape(refused.message)}</Message><Resource>{escape(request.path)}</Resource></Error>"
    )
    return web.Response(status=refused.status, body=body.encode(), content_type="application/xml")


@functools.lru_cache(maxsize=1 << 16)
def _listed(key: str, etag: str, size: int, modified_ns: int) -> str:
    """An object's entry in a listing, rendered once: Tansu lists a partition's batches on every fetch, so each is
    listed again and again (rendering them was a fifth of the store's busy time under `bench.ledger`'s gifts)."""
    return (
        f"<Contents><Key>{escape(key)}</Key><LastModified>{_iso(_moment(modified_ns))}</LastModified>"
        f"<ETag>{escape(etag)}</ETag><Size>{size}</Size><StorageClass>STANDARD</StorageClass></Contents>"
    )


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _unquote(text: str) -> str:
    from urllib.parse import unquote

    return unquote(text)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.objectstore")
    parser.add_argument("--root", required=True, help="directory that keeps the buckets")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bucket", action="append", default=[], help="create this bucket if missing")
    args = parser.parse_args()
    root = Path(args.root)
    root.mkdir(parents=True, exist_ok=True)
    store = Store(root)
    for bucket in args.bucket:
        store.create_bucket(bucket)
    web.run_app(make_app(store), host="127.0.0.1", port=args.port, access_log=None, print=None, shutdown_timeout=1.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
