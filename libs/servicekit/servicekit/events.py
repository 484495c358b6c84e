"""The CloudEvents 1.0 envelope every service publishes, and how a use case records one in the outbox."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import orjson
from pydantic import AliasChoices, BaseModel, ConfigDict, Field
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit import clock
from servicekit.context import child_traceparent, traceparent_var
from servicekit.ids import new_id


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 event in its JSON format; `data` is the typed payload as JSON. Extension attributes are
    named as the specification requires (lower-case letters and digits only). On Kafka it travels in structured
    mode (servicekit.outbox: the record's `content-type` is `application/cloudevents+json`), so the official
    SDK reads every record."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID = Field(default_factory=new_id)
    source: str
    type: str
    specversion: str = "1.0"
    time: datetime = Field(default_factory=clock.now)  # when it happened, on the service's clock
    subject: str
    dataschema: str
    datacontenttype: str = "application/json"
    traceparent: str | None = None
    # Who caused it: the acting principal and, for institution operators, the person acted for.
    actor: str | None = None
    # Records written before the attribute had its CloudEvents name say `acting_for`; they are read alike.
    actingfor: str | None = Field(default=None, validation_alias=AliasChoices("actingfor", "acting_for"))
    data: dict[str, Any]

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> CloudEvent:
        # orjson then validation: 8 µs for a 1.2 kB event against 10.8 µs for pydantic's own JSON parsing.
        return cls.model_validate(orjson.loads(raw))


# The Kafka record headers a relay writes. Structured content mode of the CloudEvents Kafka binding: the value is
# the whole event, the content type says so. The type is repeated in a header of our own so a consumer can pass
# over types it does not handle without parsing; it must not start with `ce_`, which marks binary mode to readers.
CONTENT_TYPE_HEADER = ("content-type", b"application/cloudevents+json")
TYPE_HEADER = "event-type"


def record_headers(event_type: str) -> list[tuple[str, bytes]]:
    return [CONTENT_TYPE_HEADER, (TYPE_HEADER, event_type.encode())]


def build_event(
    *,
    source: str,
    data: BaseModel,
    subject: str,
    actor: str | None = None,
    acting_for: str | None = None,
) -> CloudEvent:
    """Wrap a contracts payload (which names its TYPE and VERSION) in a new envelope."""
    # Every contracts payload (contracts.base.EventData, which the kit does not import) names both.
    event_type: str = type(data).TYPE  # type: ignore[attr-defined]
    version: int = type(data).VERSION  # type: ignore[attr-defined]
    return CloudEvent(
        source=source,
        type=event_type,
        subject=subject,
        dataschema=f"urn:timebank:schema:{event_type}:v{version}",
        traceparent=child_traceparent(traceparent_var.get()),
        actor=actor,
        actingfor=acting_for,
        data=data.model_dump(mode="json"),
    )


_INSERT_OUTBOX = text(
    "INSERT INTO outbox (event_id, topic, key, event_type, payload) "
    "SELECT i, t, k, ty, p FROM unnest(CAST(:ids AS uuid[]), CAST(:topics AS text[]), CAST(:keys AS text[]),"
    " CAST(:types AS text[]), CAST(:payloads AS text[])) WITH ORDINALITY AS e(i, t, k, ty, p, n) ORDER BY n"
)


async def record_event(session: AsyncSession, *, topic: str, event: CloudEvent, key: str | None = None) -> None:
    """Write the event to the outbox in the caller's transaction: it is published iff the change commits."""
    await record_events(session, topic=topic, events=[(event, key)])


async def record_events(session: AsyncSession, *, topic: str, events: list[tuple[CloudEvent, str | None]]) -> None:
    """Many events (each with its key, or None for its subject) in one statement, in order."""
    if not events:
        return
    await session.execute(
        _INSERT_OUTBOX,
        {
            "ids": [e.id for e, _ in events],
            "topics": [topic] * len(events),
            "keys": [key or e.subject for e, key in events],
            "types": [e.type for e, _ in events],
            "payloads": [e.model_dump_json() for e, _ in events],
        },
    )
