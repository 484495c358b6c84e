import uuid

from aiokafka.admin import AIOKafkaAdminClient

from servicekit.kafka import ensure_topics
from servicekit.settings import ServiceSettings


async def test_topic_creation_is_idempotent(infra):
    settings = ServiceSettings(kafka_bootstrap_servers=infra.kafka_bootstrap_servers, topic_partitions=3)
    topic = f"t-{uuid.uuid4().hex[:6]}"
    await ensure_topics(settings, [topic, topic + ".dlq"])
    await ensure_topics(settings, [topic, topic + ".dlq"])  # again: no error
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap_servers)
    await admin.start()
    try:
        assert {topic, topic + ".dlq"} <= set(await admin.list_topics())
    finally:
        await admin.close()
