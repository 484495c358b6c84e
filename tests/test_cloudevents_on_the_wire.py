"""Every record on every service's topic, as the running system wrote it, is read by the official CloudEvents
SDK (`cloudevents` on PyPI) through its Kafka binding: structured content mode, CloudEvents 1.0."""

from aiokafka import AIOKafkaConsumer, TopicPartition
from cloudevents.core.bindings.kafka import KafkaMessage, from_kafka_event

from contracts.topics import Topic


async def _records(bootstrap: str, topics: list[str]) -> list:
    """Every record on `topics` from the start to the end they had when asked (no group: assigned by hand)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()  # the cluster's metadata, so each topic's partitions are known
        partitions = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
        consumer.assign(partitions)
        for tp in partitions:
            consumer.seek(tp, 0)
        ends = await consumer.end_offsets(partitions)
        records = []
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            batches = await consumer.getmany(timeout_ms=1000)
            records += [r for batch in batches.values() for r in batch]
        return records
    finally:
        await consumer.stop()


async def test_the_official_sdk_reads_every_record_the_services_wrote(infra, gateway, helpers):
    await helpers.login(gateway)  # at least one event now; earlier tests left many of every service
    read = 0
    for record in await _records(infra.kafka_bootstrap_servers, [topic.value for topic in Topic]):
        headers = dict(record.headers)
        assert headers["content-type"] == b"application/cloudevents+json"
        assert not any(name.startswith("ce_") for name in headers)  # `ce_` would mean binary mode to readers
        event = from_kafka_event(KafkaMessage(headers=headers, key=record.key, value=record.value))
        attributes = event.get_attributes()
        assert attributes["specversion"] == "1.0" and attributes["source"] == record.topic.split(".")[0]
        assert attributes["type"] == headers["event-type"].decode()
        read += 1
    assert read > 0
