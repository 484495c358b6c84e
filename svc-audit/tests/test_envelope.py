"""`read_envelope` (the audit trail's reading of an envelope) accepts exactly what `CloudEvent.from_bytes`
accepts, with equal attributes: for every contract's example as a relay writes it, and for envelopes in
other forms, which it hands to `CloudEvent` itself."""

from operator import attrgetter

import orjson
import pytest

from audit.envelope import Envelope, read_envelope
from contracts.base import registry
from servicekit.events import CloudEvent, build_event

ATTRIBUTES = [name for name in Envelope.__dataclass_fields__ if name != "data_json"]


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
    assert read.data == expected.data  # its text parsed again reads as CloudEvent's data
    assert orjson.loads(read.data_json) == expected.data


@pytest.mark.parametrize("contract", sorted(registry().values(), key=attrgetter("TYPE")), ids=attrgetter("TYPE"))
def test_every_contracts_example_reads_alike(contract):
    event = build_event(source="test", data=contract.example(), subject="s-1", actor="a-1")
    _same(event.to_bytes())
    assert read_envelope(event.to_bytes()).data == event.data


@pytest.mark.parametrize(
    "change",
    [
        {"time": "2026-09-01T09:45:00.5+08:00"},
        {"time": "2026-09-01T01:45:00-00:00"},
        {"time": "2026-09-01"},
        {"time": "20260901T014500Z"},
        {"time": "2026-W36-1T01:45:00Z"},
        {"time": 1700000000},
        {"time": "1700000000"},
        {"time": "2026-13-01T01:45:00Z"},
        {"time": "2026-09-01T01:45:00"},
        {"time": None},
        {"id": "6592F8F34DAA46D4B94CE72623E84649"},
        {"id": "{6592f8f3-4daa-46d4-b94c-e72623e84649}"},
        {"id": "urn:uuid:6592f8f3-4daa-46d4-b94c-e72623e84649"},
        {"id": "not-a-uuid"},
        {"id": 7},
        {"id": "6592F8F3-4DAA-46D4-B94C-E72623E84649"},
        {"id": "6592f8f3-4daa46d4-b94c-e72623e84649"},
        {"id": "-6592f8f34daa46d4b94ce72623e84649"},
        {"id": "6592f8f3-4daa-46d4-b94c-e72623e8464g"},
        {"id": "6592f8f34daa-46d4-b94c-e72623e84649-"},
        {"actor": 7},
        {"actor": None},
        {"subject": None},
        {"type": ["a"]},
        {"data": []},
        {"data": "x"},
        {"specversion": 1},
        {"dataschema": None},
        {"extra": "ignored"},
        {"traceparent": {"a": 1}},
    ],
    ids=repr,
)
def test_envelopes_in_other_forms_read_as_cloud_event_reads_them(change):
    event = build_event(
        source="test", data=registry()[("timebank.matching.service.completed", 1)].example(), subject="s-1"
    )
    _same(orjson.dumps({**orjson.loads(event.to_bytes()), **change}))


@pytest.mark.parametrize(
    "missing",
    [
        "id",
        "time",
        "actor",
        "actingfor",
        "traceparent",
        "specversion",
        "data",
        "type",
        "source",
        "subject",
        "dataschema",
        "datacontenttype",
    ],
)
def test_envelopes_missing_an_attribute_read_as_cloud_event_reads_them(missing):
    event = build_event(source="test", data=registry()[("timebank.ledger.coins.gifted", 1)].example(), subject="s")
    envelope = orjson.loads(event.to_bytes())
    del envelope[missing]
    _same(orjson.dumps(envelope), ids_generated=missing == "id")


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1, 2]", b"null", b'"text"', b"{}"])
def test_what_is_no_envelope_is_unreadable(raw):
    with pytest.raises(ValueError):
        read_envelope(raw)


def _with(data: bytes = b'{"n":1}', **attributes: bytes) -> bytes:
    """A relay-form envelope (every attribute once) with raw JSON spliced in, for what orjson cannot write."""
    event = build_event(source="test", data=registry()[("timebank.ledger.coins.gifted", 1)].example(), subject="s")
    fields = {name: orjson.dumps(value) for name, value in orjson.loads(event.to_bytes()).items()}
    fields.update(attributes, data=data)
    return b"{" + b",".join(b'"%s":%s' % (name.encode(), value) for name, value in fields.items()) + b"}"


@pytest.mark.parametrize(
    "raw",
    [
        b"\xef\xbb\xbf" + _with(),  # a byte-order mark: simdjson skips it, orjson refuses
        b"  " + _with() + b"\n",  # whitespace around
        _with() + b" x",  # trailing content
        _with(b'{"a":1,"a":2}'),  # a repeated key in the data: the last counts
        _with(actor=b'"first"').replace(b'"data":', b'"actor":"second","data":'),  # a repeated attribute
        _with(b'{"big":123456789012345678901234567890,"neg":-9223372036854775809,"u64":18446744073709551615}'),
        _with(b'{"f":1.5e300,"g":-0.0,"h":1E2,"i":-1e-7,"j":0.1}'),
        _with(b'{"f":1e400}'),  # out of range
        _with(b'{"s":"\\u00e9\\/\\n\\u0000\\ud83d\\ude00\\"\\\\"}'),  # escapes, a surrogate pair
        _with(b'{"s":"\\ud800"}'),
        _with(b'{"s":"\\udc00x"}'),  # lone surrogates
        _with(b'{"s":"\xff"}'),  # not UTF-8
        _with(b'{"s":"\xe4\xb8\xad\xe6\x96\x87"}'),  # UTF-8
        _with(b'{"n":NaN}'),
        _with(b'{"n":01}'),
        _with(b'{"n":1,}'),
        _with(b"[" * 1100 + b"]" * 1100),
        _with(b'{"a":' + b"[" * 1100 + b"]" * 1100 + b"}"),  # deeper than either allows
        _with(b'{"a":' + b"[" * 500 + b"]" * 500 + b"}"),
        _with(subject=b'"a\\"'),
        _with(subject=b'"\\u0073"'),
        _with(id=b'"6592f8f3-4daa-46d4-b94c-e72623e84649 "'),
    ],
    ids=lambda raw: repr(raw[:12] + b"..." + raw[-40:]),
)
def test_envelopes_in_unusual_json_read_as_cloud_event_reads_them(raw):
    _same(raw)


def _data_at(position: int) -> bytes:
    """A relay-form envelope with its data member moved to `position` among the members."""
    members = list(orjson.loads(_with(b'{"n":1,"data":{"data":2}}')).items())
    data = members.pop(-1)
    members.insert(position, data)
    return orjson.dumps(dict(members))


@pytest.mark.parametrize(
    "raw",
    [
        _data_at(0),
        _data_at(5),
        _data_at(11),  # data first, in the middle, last
        _with(b'{"data":{"data":{}},"x":"\\"data\\":{"}'),  # "data":{ nested and inside a string
        _with(subject=b'"\\"data\\":{\\"x\\":1}"'),  # an attribute holding "data":{ as text
        _with(b'{"a" : [1, 2] }'),
        _with() + b" ",
        _with()[:-1] + b" }",  # whitespace
    ],
    ids=repr,
)
def test_the_data_is_read_wherever_it_stands(raw):
    _same(raw)


def test_the_data_is_kept_as_the_text_it_came_in():
    """Its bytes as sent when it is the last member (as relays write it), else without whitespace."""
    raw = _with(b'{"z": 1, "a" :[true, null],"s":"\xe4\xb8\xad"}')
    assert read_envelope(raw).data_json == '{"z": 1, "a" :[true, null],"s":"\u4e2d"}'
    assert read_envelope(_data_at(0)).data_json == '{"n":1,"data":{"data":2}}'


def test_what_relays_write_is_read_without_cloud_event(monkeypatch):
    """The fast path is taken for the relays' own form (else the audit trail reads at CloudEvent's pace)."""
    raws = [
        build_event(source="test", data=contract.example(), subject="s-1").to_bytes()
        for contract in registry().values()
    ]

    def refuse(raw):
        raise AssertionError("read through CloudEvent")

    monkeypatch.setattr(CloudEvent, "from_bytes", refuse)
    assert [read_envelope(raw).type for raw in raws] == [contract.TYPE for contract in registry().values()]


def test_records_written_with_the_old_attribute_name_read_as_cloud_event_reads_them():
    envelope = orjson.loads(
        build_event(source="matching", data=registry()[("timebank.ledger.coins.gifted", 1)].example(), subject="s")
        .model_copy(update={"actingfor": "p-9"})
        .to_bytes()
    )
    envelope["acting_for"] = envelope.pop("actingfor")
    _same(orjson.dumps(envelope))
    assert read_envelope(orjson.dumps(envelope)).actingfor == "p-9"
