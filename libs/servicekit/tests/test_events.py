"""`read_envelope` (the audit trail's fast reading of an envelope) accepts exactly what `CloudEvent.from_bytes`
accepts, with equal attributes: for every contract's example as a relay writes it, and for envelopes in
other forms, which it hands to `CloudEvent` itself."""
import orjson
import pytest

from contracts.base import registry
from servicekit.events import CloudEvent, Envelope, build_event, read_envelope

ATTRIBUTES = list(Envelope.__dataclass_fields__)


def _same(raw: bytes, *, ids_generated: bool = False) -> None:
    try:
        expected = CloudEvent.from_bytes(raw)
    except ValueError:  # pydantic's ValidationError is one
        with pytest.raises(ValueError):
            read_envelope(raw)
        return
    read = read_envelope(raw)
    for name in ATTRIBUTES:
        if name == "id" and ids_generated:
            continue
        if name == "time" and "time" not in orjson.loads(raw):
            continue  # both stamp the time of reading
        assert getattr(read, name) == getattr(expected, name), name
        assert str(getattr(read, name)) == str(getattr(expected, name)), name


@pytest.mark.parametrize("contract", sorted(registry().values(), key=lambda c: c.TYPE), ids=lambda c: c.TYPE)
def test_every_contracts_example_reads_alike(contract):
    event = build_event(source="test", data=contract.example(), subject="s-1", actor="a-1")
    _same(event.to_bytes())
    assert read_envelope(event.to_bytes()).data == event.data


@pytest.mark.parametrize("change", [
    {"time": "2026-09-01T09:45:00.5+08:00"}, {"time": "2026-09-01T01:45:00-00:00"}, {"time": "2026-09-01"},
    {"time": "20260901T014500Z"}, {"time": "2026-W36-1T01:45:00Z"}, {"time": 1700000000}, {"time": "1700000000"},
    {"time": "2026-13-01T01:45:00Z"}, {"time": "2026-09-01T01:45:00"}, {"time": None},
    {"id": "6592F8F34DAA46D4B94CE72623E84649"}, {"id": "{6592f8f3-4daa-46d4-b94c-e72623e84649}"},
    {"id": "urn:uuid:6592f8f3-4daa-46d4-b94c-e72623e84649"}, {"id": "not-a-uuid"}, {"id": 7},
    {"id": "6592F8F3-4DAA-46D4-B94C-E72623E84649"}, {"id": "6592f8f3-4daa46d4-b94c-e72623e84649"},
    {"id": "-6592f8f34daa46d4b94ce72623e84649"}, {"id": "6592f8f3-4daa-46d4-b94c-e72623e8464g"},
    {"id": "6592f8f34daa-46d4-b94c-e72623e84649-"},
    {"actor": 7}, {"actor": None}, {"subject": None}, {"type": ["a"]}, {"data": []}, {"data": "x"},
    {"specversion": 1}, {"dataschema": None}, {"extra": "ignored"}, {"traceparent": {"a": 1}},
], ids=repr)
def test_envelopes_in_other_forms_read_as_cloud_event_reads_them(change):
    event = build_event(source="test", data=registry()[("timebank.matching.service.completed", 1)].example(),
                        subject="s-1")
    _same(orjson.dumps({**orjson.loads(event.to_bytes()), **change}))


@pytest.mark.parametrize("missing", ["id", "time", "actor", "acting_for", "traceparent", "specversion", "data",
                                     "type", "source", "subject", "dataschema", "datacontenttype"])
def test_envelopes_missing_an_attribute_read_as_cloud_event_reads_them(missing):
    event = build_event(source="test", data=registry()[("timebank.ledger.coins.gifted", 1)].example(), subject="s")
    envelope = orjson.loads(event.to_bytes())
    del envelope[missing]
    _same(orjson.dumps(envelope), ids_generated=missing == "id")


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1, 2]", b"null", b'"text"', b"{}"])
def test_what_is_no_envelope_is_unreadable(raw):
    with pytest.raises(ValueError):
        read_envelope(raw)
