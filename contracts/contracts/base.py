from __future__ import annotations

from typing import Any, ClassVar, Self

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
    def example(cls) -> Self:
        """A valid instance, for contract tests and the docs: every event type defines its own."""
        raise NotImplementedError(cls.__name__)

    @classmethod
    def read(cls, data: dict[str, Any]) -> Self:
        """Consumer-side parsing: fields added by a newer version of the event are ignored, so a consumer
        built against version N keeps working while producers move to N+1."""
        return cls.model_validate({k: v for k, v in data.items() if k in cls.model_fields})


def registry() -> dict[tuple[str, int], type[EventData]]:
    """Every event type of every service. The modules are imported here, not left to whoever imported them
    first: a test parametrized over the registry got 0, some or all contracts by the order its suite ran in."""
    from contracts import aed, audit, identity, ledger, matching  # noqa: F401  (their classes register)

    return dict(_REGISTRY)


def schema_for(event_type: str, dataschema: str) -> type[EventData]:
    """The payload class named by an envelope's type and `dataschema` (urn:…:vN)."""
    version = int(dataschema.rsplit(":v", 1)[1])
    return registry()[(event_type, version)]
