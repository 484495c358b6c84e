import uuid
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from contracts import TOPICS, registry, schema_for
from contracts.identity import PersonRegistered
from servicekit.events import CloudEvent, build_event


def test_every_event_type_is_named_by_convention_and_registered_once():
    types = registry()
    assert types, "no contracts registered"
    for (event_type, version), cls in types.items():
        parts = event_type.split(".")
        assert parts[0] == "timebank" and len(parts) == 4, event_type
        assert f"{parts[1]}.events" in TOPICS, f"{event_type} has no producing topic"
        assert version >= 1 and version == cls.VERSION


def test_envelope_round_trips_and_names_its_schema():
    data = PersonRegistered(person_id=uuid.uuid4(), channel="wechat", registered_at=datetime.now(UTC))
    event = build_event(source="identity", data=data, subject=str(data.person_id))
    again = CloudEvent.from_bytes(event.to_bytes())
    assert again == event and again.specversion == "1.0"
    assert schema_for(again.type, again.dataschema) is PersonRegistered
    assert PersonRegistered.model_validate(again.data) == data


def test_payloads_reject_unknown_fields_and_wrong_types():
    with pytest.raises(ValidationError):
        PersonRegistered(person_id=uuid.uuid4(), channel="wechat", registered_at=datetime.now(UTC), name="张三")
    with pytest.raises(ValidationError):
        PersonRegistered(person_id="not-a-uuid", channel="wechat", registered_at=datetime.now(UTC))
    with pytest.raises(ValidationError):
        PersonRegistered(person_id=uuid.uuid4(), channel="carrier-pigeon", registered_at=datetime.now(UTC))


def test_no_event_carries_personal_data_fields():
    forbidden = {"id_number", "identity_number", "name", "phone", "birth_date", "address"}
    for cls in registry().values():
        assert not forbidden & set(cls.model_fields), cls.__name__


def test_every_contract_has_a_valid_example():
    for cls in registry().values():
        example = cls.example()
        assert cls.model_validate(example.model_dump(mode="json")) == example


def test_consumers_accept_every_version_still_produced():
    from aed.events import HANDLERS as aed_handlers
    from identity.events import HANDLERS as identity_handlers
    from ledger.events import handlers as ledger_handlers
    from ledger.settings import LedgerSettings
    from matching.events import HANDLERS as matching_handlers

    consumers = {
        "ledger": ledger_handlers(LedgerSettings()),
        "identity": identity_handlers,
        "matching": matching_handlers,
        "aed": aed_handlers,
    }
    for service, handlers in consumers.items():
        for event_type, (reader, _) in handlers.items():
            versions = [cls for (t, _), cls in registry().items() if t == event_type]
            assert versions, f"{service} consumes {event_type}, which nobody produces"
            for produced in versions:
                reader.read(produced.example().model_dump(mode="json"))


def test_a_newer_version_with_an_added_field_is_still_read_by_an_older_consumer():
    newer = PersonRegistered.example().model_dump(mode="json") | {"added_in_v2": "x"}
    assert PersonRegistered.read(newer) == PersonRegistered.example()
