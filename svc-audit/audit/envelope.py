"""How the audit trail reads an event: as an `Envelope`, the CloudEvent's attributes with the payload kept as the
JSON text it came in, which is what the trail hashes and stores. `read_envelope` accepts exactly what
`servicekit.events.CloudEvent.from_bytes` accepts, and reads the form relays write with simdjson instead,
building Python objects only for the attributes: 4.6 µs an event against 7.8 µs (bench/README.md, the audit
trail's A/B), on the one consumer that reads every event of every service."""

from __future__ import annotations

import re
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import simdjson
from asyncpg.pgproto import pgproto
from pydantic import ValidationError

from servicekit.events import CloudEvent


@dataclass(slots=True, eq=False)
class Envelope:
    """A CloudEvent as read by a consumer that records events rather than acting on their payloads (the audit
    trail): the same attributes as `CloudEvent`, the payload kept as JSON text (`data_json`) instead of parsed
    into objects: its bytes as they came when it is the envelope's last member, as relays write it, else
    rendered without whitespace."""

    id: uuid.UUID
    source: str
    type: str
    specversion: str
    time: datetime
    subject: str
    dataschema: str
    datacontenttype: str
    traceparent: str | None
    actor: str | None
    actingfor: str | None
    data_json: str

    @classmethod
    def of(cls, event: CloudEvent) -> Envelope:
        attributes = {name: getattr(event, name) for name in cls.__dataclass_fields__ if name != "data_json"}
        return cls(**attributes, data_json=orjson.dumps(event.data).decode())

    @property
    def data(self) -> dict[str, Any]:
        """The payload parsed (each time it is asked for)."""
        return orjson.loads(self.data_json)


# The times relays write (pydantic's JSON form of an aware datetime), which Python's ISO parser reads alike.
_RELAY_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|[+-]\d\d:\d\d)")
_STR, _NONE = str, type(None)
_ATTRIBUTES = len(Envelope.__dataclass_fields__)  # a relay writes every attribute, and nothing else
_parsers = threading.local()  # a simdjson parser serves one document at a time


def read_envelope(raw: bytes) -> Envelope:
    """The envelope in `raw`, accepted exactly when `CloudEvent.from_bytes` accepts it (ValueError otherwise)
    and with equal attributes and equal data. The common form — what every relay writes: a JSON object with
    every attribute once and nothing else, a UUID in its 8-4-4-4-12 form, the relays' form of time — is read
    with simdjson, which validates the whole document but builds Python objects only for the attributes (the
    data is copied out as text), and checked by hand; anything else goes through `CloudEvent` itself, so no
    envelope reads differently here."""
    try:
        return _read_relay_form(raw)
    except (ValueError, RuntimeError, KeyError, TypeError):  # simdjson raises ValueError or RuntimeError
        return _read_as_cloud_event(raw)


def _read_as_cloud_event(raw: bytes) -> Envelope:
    try:
        return Envelope.of(CloudEvent.from_bytes(raw))
    except ValidationError as exc:  # a ValueError, as the consumer expects of an unreadable event
        raise ValueError(str(exc)) from None


def _read_relay_form(raw: bytes) -> Envelope:
    if raw[:1] != b"{":  # simdjson, unlike orjson, skips a byte-order mark
        raise ValueError("not in the relays' form")
    try:
        parser = _parsers.parser
    except AttributeError:
        parser = _parsers.parser = simdjson.Parser()
    d = parser.parse(raw)
    data = None
    try:
        # Exactly the attributes, each once (simdjson returns a repeated key's first value, orjson its last).
        if len(d) != _ATTRIBUTES:
            raise ValueError("not in the relays' form")
        id_, time_, traceparent, actor, actingfor = d["id"], d["time"], d["traceparent"], d["actor"], d["actingfor"]
        source, type_, subject, dataschema = d["source"], d["type"], d["subject"], d["dataschema"]
        specversion, datacontenttype, data = d["specversion"], d["datacontenttype"], d["data"]
        if not (
            type(id_) is _STR
            and len(id_) == 36
            and id_[8] == id_[13] == id_[18] == id_[23] == "-"
            and type(time_) is _STR
            and _RELAY_TIME.fullmatch(time_)
            and type(source) is _STR
            and type(type_) is _STR
            and type(subject) is _STR
            and type(dataschema) is _STR
            and type(specversion) is _STR
            and type(datacontenttype) is _STR
            and type(data) is simdjson.Object
            and type(traceparent) in (_STR, _NONE)
            and type(actor) in (_STR, _NONE)
            and type(actingfor) in (_STR, _NONE)
        ):
            raise ValueError("not in the relays' form")
        return Envelope(
            pgproto.UUID(id_),
            source,
            type_,
            specversion,
            datetime.fromisoformat(time_),
            subject,
            dataschema,
            datacontenttype,
            traceparent,
            actor,
            actingfor,
            _data_text(raw, data),
        )
    finally:
        d = data = None  # the parser parses again only once no value of its document is left


def _data_text(raw: bytes, data: simdjson.Object) -> str:
    """The data's JSON text: its bytes as they came when the relays' form allows slicing them out, else
    simdjson's rendering of it without whitespace. In a valid document whose 12 members are 11 string or null
    attributes and `data`, an object, the first `"data":{` is the data member (a string holds no unescaped
    quote, and every other object lies inside data), and the document ends in `}}` exactly when data is its
    last member (else it ends in a string's quote or `null`'s `l`)."""
    start = raw.find(b'"data":{')
    if raw[-2:] == b"}}" and start > 0:
        return raw[start + 7 : -1].decode()
    return data.mini.decode()  # type: ignore[attr-defined]  # pysimdjson's stub says str; `mini` is bytes
