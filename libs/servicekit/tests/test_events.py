"""The envelope as relays write it: the official CloudEvents SDK reads every contract's event, and records
written before the attribute had its CloudEvents name are still read."""

from operator import attrgetter

import pytest

from contracts.base import registry
from servicekit.events import CloudEvent, build_event


@pytest.mark.parametrize("contract", sorted(registry().values(), key=attrgetter("TYPE")), ids=attrgetter("TYPE"))
def test_the_official_cloudevents_sdk_reads_every_event_as_a_relay_writes_it(contract):
    from cloudevents.core.bindings.kafka import KafkaMessage, from_kafka_event

    from servicekit.events import record_headers

    event = build_event(source="identity", data=contract.example(), subject="s-1", actor="a-1", acting_for="p-1")
    message = KafkaMessage(headers=dict(record_headers(event.type)), key=b"s-1", value=event.to_bytes())
    read = from_kafka_event(message)  # structured mode: the content type says so, no `ce_` header says otherwise
    attributes = read.get_attributes()
    assert attributes["id"] == str(event.id) and attributes["type"] == event.type
    assert attributes["source"] == "identity" and attributes["specversion"] == "1.0"
    assert attributes["actingfor"] == "p-1" and attributes["actor"] == "a-1"
    assert attributes["time"] == event.time and attributes["dataschema"] == event.dataschema
    assert read.get_data() == event.data


def test_records_written_with_the_old_attribute_name_are_still_read():
    event = build_event(
        source="matching",
        data=sorted(registry().values(), key=lambda c: c.TYPE)[0].example(),
        subject="s-1",
        acting_for="p-9",
    )
    old = event.to_bytes().replace(b'"actingfor"', b'"acting_for"')
    assert CloudEvent.from_bytes(old).actingfor == "p-9"
