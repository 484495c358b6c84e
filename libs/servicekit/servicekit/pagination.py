"""One cursor convention for every list in the API.

A list answers `{"items": [...], "next_cursor": "..." | null}`, newest first; the caller passes `next_cursor`
back as `?cursor=` for the next page and stops when it is null. `limit` (1–100, default 20) bounds a page. The
cursor is opaque to callers: the sort key and id of the last item sent, so a page never repeats or skips an
item when new ones arrive at the top (keyset pagination, no OFFSET). A cursor that was altered or belongs to
another list is a 400, not a page of something else.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy import literal, tuple_

from servicekit.errors import Problem

T = TypeVar("T")

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


class InvalidCursor(Problem):
    status, type, title_zh, title_en = 400, "invalid-cursor", "分页游标无效", "Invalid cursor"

    def __init__(self) -> None:
        super().__init__("请使用上一页返回的 next_cursor", "Pass back the next_cursor of the previous page")


@dataclass(frozen=True)
class After:
    """Where the previous page ended: the last item's sort key (a time) and id (a UUID, or a sequence number as
    digits), and its rank for lists that put some items first (severity, priority)."""

    at: datetime
    id: str
    rank: int | None = None


@dataclass(frozen=True)
class PageRequest:
    after: After | None
    limit: int

    @property
    def fetch(self) -> int:
        """Rows to ask the database for: one more than a page says whether another page follows."""
        return self.limit + 1


def encode_cursor(list_name: str, at: datetime, item_id: object, rank: int | None = None) -> str:
    keys = [list_name, at.isoformat(), str(item_id)] + ([rank] if rank is not None else [])
    raw = json.dumps(keys, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(list_name: str, cursor: str) -> After:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        name, at, item_id, *rank = json.loads(raw)
        if name != list_name or len(rank) > 1 or (rank and type(rank[0]) is not int):
            raise ValueError(name)
        parsed = datetime.fromisoformat(at)
        if not (item_id.isdigit() and len(item_id) <= 18):  # a sequence number, else a UUID
            uuid.UUID(item_id)
        return After(parsed, item_id, rank[0] if rank else None)
    except (ValueError, TypeError, UnicodeDecodeError):
        raise InvalidCursor() from None


@dataclass(frozen=True)
class PageQuery:
    """`?cursor=&limit=` as given; `for_list` reads the cursor for the list being answered."""

    cursor: str | None
    limit: int

    def for_list(self, list_name: str) -> PageRequest:
        return PageRequest(decode_cursor(list_name, self.cursor) if self.cursor else None, self.limit)


def _page_query(
    cursor: Annotated[str | None, Query(max_length=200, description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="items per page")] = DEFAULT_LIMIT,
) -> PageQuery:
    return PageQuery(cursor, limit)


# The dependency every list endpoint takes.
PageParams = Annotated[PageQuery, Depends(_page_query)]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null on the last page")


def page_of(
    list_name: str, rows: Sequence, request: PageRequest, *, at: str, id: str = "id", rank: str | None = None
) -> tuple[list, str | None]:
    """The rows of this page and the cursor of the next, from `request.fetch` rows in list order; `at`, `id` and
    `rank` name the attributes (or keys) holding each row's sort key, id and rank."""

    def value(row, name: str):
        return row[name] if isinstance(row, dict) else getattr(row, name)

    shown = list(rows[: request.limit])
    if len(rows) <= request.limit or not shown:
        return shown, None
    last = shown[-1]
    return shown, encode_cursor(list_name, value(last, at), value(last, id), int(value(last, rank)) if rank else None)


def keyset(query, at_column, id_column, page: PageRequest):
    """A SQLAlchemy select as one page of a newest-first list: ordered by (at, id) descending, from just after
    the page's cursor, one row more than the page (see `page_of`)."""
    if page.after is not None:
        after = tuple_(literal(page.after.at), literal(uuid.UUID(page.after.id)))
        query = query.where(tuple_(at_column, id_column) < after)
    return query.order_by(at_column.desc(), id_column.desc()).limit(page.fetch)


def keyset_text(page: PageRequest, at: str, id: str) -> tuple[str, dict]:
    """The same page condition for a hand-written statement: a SQL condition on the columns `at` and `id` (a uuid)
    and its parameters (`after_at`, `after_id`, and `fetch` for the LIMIT), newest first."""
    params = {
        "after_at": page.after.at if page.after else None,
        "after_id": page.after.id if page.after else None,
        "fetch": page.fetch,
    }
    if page.after is None:
        return "true", params
    return f"({at}, {id}) < (:after_at, CAST(:after_id AS uuid))", params


async def all_pages(
    list_name: str, fetch: Callable[[PageRequest], Awaitable[tuple[list, str | None]]], *, size: int = 500
) -> list:
    """Every item of a cursor-paged list, page by page in list order (a person's copy of their own data)."""
    items: list = []
    page = PageRequest(None, size)
    while True:
        rows, cursor = await fetch(page)
        items += rows
        if cursor is None:
            return items
        page = PageRequest(decode_cursor(list_name, cursor), size)
