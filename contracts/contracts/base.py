from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

_REGISTRY: dict[tuple[str, int], type[EventData]] = {}


class EventData(BaseModel):
    """Base of every event payload. Payloads are immutable and reject unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    TYPE: ClassVar[str]
    VERSION: ClassVar[int] = 1

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "TYPE" in cls.__dict__:
            # Every contract carries a valid example (classmethod `example`) for contract tests and docs.
            if "example" not in cls.__dict__:
                raise TypeError(f"{cls.__name__} must define example()")
            _REGISTRY[(cls.TYPE, cls.VERSION)] = cls

    @classmethod
    def read(cls, data: dict[str, Any]) -> EventData:
        """Consumer-side parsing: fields added by a newer version of the event are ignored, so a consumer
        built against version N keeps working while producers move to N+1."""
        return cls.model_validate({k: v for k, v in data.items() if k in cls.model_fields})


def registry() -> dict[tuple[str, int], type[EventData]]:
    return dict(_REGISTRY)


def schema_for(event_type: str, dataschema: str) -> type[EventData]:
    """The payload class named by an envelope's type and `dataschema` (urn:…:vN)."""
    version = int(dataschema.rsplit(":v", 1)[1])
    return registry()[(event_type, version)]
