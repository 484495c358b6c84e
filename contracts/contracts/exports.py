"""What every export of a staff list records (导出留痕): who exported which list, with which filters, in which
format and how many rows. Each service names its own event (`contracts.identity.ListExported`, …) on this shape,
published in the transaction that read the rows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal, Self

from contracts.base import EventData


class ListExport(EventData):
    list_name: str
    format: Literal["csv", "xlsx"]
    filters: dict[str, str]
    rows: int
    exported_by: str
    exporter_roles: list[str]
    exported_at: datetime

    @classmethod
    def sample(cls, list_name: str) -> Self:
        """A valid instance, for each service's event's `example()`."""
        return cls(
            list_name=list_name,
            format="xlsx",
            filters={"district": "110105"},
            rows=120,
            exported_by="staff-1",
            exporter_roles=["district_officer"],
            exported_at=datetime(2026, 12, 6, tzinfo=UTC),
        )
