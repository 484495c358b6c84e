from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

_REGISTRY: dict[tuple[str, int], type["EventData"]] = {}


class EventData(BaseModel):
    """Base of every event payload. Payloads are immutable and reject unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    TYPE: ClassVar[str]
    VERSION: ClassVar[int] = 1

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "TYPE" in cls.__dict__:
            _REGISTRY[(cls.TYPE, cls.VERSION)] = cls


def registry() -> dict[tuple[str, int], type[EventData]]:
    import contracts.identity, contracts.ledger  # noqa: F401,E401  (register every payload)
    return dict(_REGISTRY)


def schema_for(event_type: str, dataschema: str) -> type[EventData]:
    """The payload class named by an envelope's type and `dataschema` (urn:…:vN)."""
    version = int(dataschema.rsplit(":v", 1)[1])
    return registry()[(event_type, version)]
