"""The embedded broker keeps its log (ADR 15): Tansu on `s3://` against the project's store on local disk.

Proved with the clients that use it — aiokafka through Tansu for the log, plain HTTP for the S3 semantics Tansu's
engine relies on (conditional writes are its compare-and-swap; listing by prefix finds a partition's batches).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from devstack.broker import BUCKET, TansuBroker
from devstack.objectstore import LOG_NAME, Store
from devstack.postgres import free_port


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[TansuBroker]:
    broker = TansuBroker(free_port(), data_dir=tmp_path / "broker", log_dir=tmp_path / "logs")
    broker.start()
    yield broker
    broker.stop()


async def _read_all(broker: TansuBroker, tp: TopicPartition, *, group: str | None = None) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=broker.bootstrap_servers,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        consumer.assign([tp])
        if group is None:
            await consumer.seek_to_beginning(tp)
        values: list[bytes] = []
        for _ in range(10):
            batches = await consumer.getmany(tp, timeout_ms=300)
            values += [record.value for record in batches.get(tp, [])]
        if group is not None and values:
            await consumer.commit()
        return values
    finally:
        await consumer.stop()


async def test_records_and_committed_offsets_survive_kill_9_of_tansu_and_of_its_store(broker):
    topic = f"kept-{uuid.uuid4().hex[:6]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
    await admin.start()
    await admin.create_topics([NewTopic(topic, 1, 1)])
    await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers, acks="all")
    await producer.start()
    try:
        for n in range(3):  # three batches
            await asyncio.gather(*[await producer.send(topic, f"{n}-{i}".encode()) for i in range(5)])
    finally:
        await producer.stop()
    tp = TopicPartition(topic, 0)
    assert len(await _read_all(broker, tp, group="readers")) == 15  # and the group commits 15

    for victim in (broker.child, broker.store):
        victim.kill()
        broker.start()
        assert len(await _read_all(broker, tp)) == 15, f"the log after kill -9 of {victim.name}"

    consumer = AIOKafkaConsumer(
        bootstrap_servers=broker.bootstrap_servers, group_id="readers", enable_auto_commit=False
    )
    await consumer.start()
    try:
        assert await consumer.committed(tp) == 15, "the group's committed offset is kept"
        # Tansu answers ListOffsets(latest) with the newest batch's base + 1, the newest being the object modified
        # last: the store's modification times never tie, so it is the last batch (base 10) after a restart too.
        assert (await consumer.end_offsets([tp]))[tp] == 11
    finally:
        await consumer.stop()


def test_the_store_speaks_the_s3_semantics_tansu_relies_on(broker):
    base = f"http://127.0.0.1:{broker.store_port}/{BUCKET}"
    with httpx.Client(timeout=5) as s3:
        created = s3.put(f"{base}/t/a/1.batch", content=b"one", headers={"If-None-Match": "*"})
        assert created.status_code == 200
        etag = created.headers["ETag"]
        again = s3.put(f"{base}/t/a/1.batch", content=b"two", headers={"If-None-Match": "*"})
        assert again.status_code == 412 and "PreconditionFailed" in again.text, "create-only refuses an existing key"
        assert s3.put(f"{base}/t/a/1.batch", content=b"two", headers={"If-Match": '"stale"'}).status_code == 412
        swapped = s3.put(f"{base}/t/a/1.batch", content=b"two", headers={"If-Match": etag})
        assert swapped.status_code == 200 and swapped.headers["ETag"] != etag
        assert s3.get(f"{base}/t/a/1.batch").content == b"two"
        assert s3.get(f"{base}/t/a/1.batch", headers={"Range": "bytes=1-"}).content == b"wo"
        assert s3.get(f"{base}/t/a/1.batch", headers={"If-None-Match": swapped.headers["ETag"]}).status_code == 304

        for key in ("t/a/2.batch", "t/a/3.batch", "t/b/1.batch", "u/1.batch"):
            assert s3.put(f"{base}/{key}", content=key.encode()).status_code == 200
        page = s3.get(base, params={"list-type": "2", "prefix": "t/a/", "max-keys": "2"})
        assert page.text.count("<Key>") == 2 and "<IsTruncated>true</IsTruncated>" in page.text
        token = page.text.split("<NextContinuationToken>")[1].split("<")[0]
        rest = s3.get(base, params={"list-type": "2", "prefix": "t/a/", "continuation-token": token})
        assert "<Key>t/a/3.batch</Key>" in rest.text and rest.text.count("<Key>") == 1
        folders = s3.get(base, params={"list-type": "2", "prefix": "t/", "delimiter": "/"})
        assert folders.text.count("<Prefix>t/a/</Prefix>") == 1 and "<Prefix>t/b/</Prefix>" in folders.text

        assert s3.delete(f"{base}/t/a/2.batch").status_code == 204
        assert s3.get(f"{base}/t/a/2.batch").status_code == 404
        for hostile in ("t/%2E%2E/%2E%2E/%2E%2E/etc/passwd", "t//x", "t/%2E/x"):  # escaped, so no client tidies them
            assert s3.put(f"{base}/{hostile}", content=b"x").status_code == 400, hostile
    assert not (broker.data_dir.parent / "etc").exists()


def _put(store: Store, key: str, data: bytes) -> None:
    store.put(BUCKET, key, data, if_match=None, if_none_match=None)


def _contents(store: Store) -> dict[str, bytes]:
    listed, _, _ = store.list(BUCKET, prefix="", after="", delimiter="", limit=1000)
    return {key: store.read(BUCKET, key)[1] for key, _ in listed}


def test_a_torn_last_record_is_cut_off_and_the_records_before_it_are_kept(tmp_path):
    store = Store(tmp_path)
    store.create_bucket(BUCKET)
    _put(store, "t/0/1.batch", b"one")
    _put(store, "t/0/watermark.json", b"w1")
    _put(store, "t/0/watermark.json", b"w2")
    store.close()
    whole = (tmp_path / LOG_NAME).stat().st_size
    with open(tmp_path / LOG_NAME, "ab") as log:  # a power cut in the middle of the next record
        log.write(b"\x01\x02\x03 half a header")

    again = Store(tmp_path)
    assert _contents(again) == {"t/0/1.batch": b"one", "t/0/watermark.json": b"w2"}
    assert (tmp_path / LOG_NAME).stat().st_size == whole, "the torn record is cut off"
    _put(again, "t/0/2.batch", b"two")
    again.close()
    assert _contents(Store(tmp_path))["t/0/2.batch"] == b"two", "what follows the cut is read back"


def test_the_log_is_compacted_to_its_live_objects_and_keeps_their_etags_and_times(tmp_path):
    store = Store(tmp_path, compact_after=4096)
    store.create_bucket(BUCKET)
    for n in range(20):
        _put(store, f"t/0/{n}.batch", bytes(100) + str(n).encode())
    for n in range(0, 20, 2):
        store.delete(BUCKET, f"t/0/{n}.batch")
    for n in range(500):  # a watermark moved on every produce
        _put(store, "t/0/watermark.json", f"offset {n}".encode())
    before = {key: store.head(BUCKET, key) for key in _contents(store)}
    assert (tmp_path / LOG_NAME).stat().st_size < 2 * 4096 + 2048, "compacted as the dead records grew"
    store.close()

    again = Store(tmp_path)
    assert _contents(again) == {
        **{f"t/0/{n}.batch": bytes(100) + str(n).encode() for n in range(1, 20, 2)},
        "t/0/watermark.json": b"offset 499",
    }
    for key, found in before.items():
        kept = again.head(BUCKET, key)
        assert (kept.etag, kept.modified_ns) == (found.etag, found.modified_ns), key
    _put(again, "t/0/next.batch", b"x")
    assert again.head(BUCKET, "t/0/next.batch").modified_ns > max(f.modified_ns for f in before.values())


def test_a_store_kept_as_one_file_per_object_is_taken_into_the_log(tmp_path):
    old = tmp_path / BUCKET / "clusters" / "c" / "topics" / "t" / "partitions" / "0" / "records"
    old.mkdir(parents=True)
    (old / "0.batch").write_bytes(b"first")
    (old / "5.batch").write_bytes(b"second")
    os.utime(old / "0.batch", ns=(1_000_000_000, 1_000_000_000))
    os.utime(old / "5.batch", ns=(2_000_000_000, 2_000_000_000))
    (tmp_path / ".incoming").mkdir()

    store = Store(tmp_path)
    prefix = "clusters/c/topics/t/partitions/0/records/"
    assert _contents(store) == {f"{prefix}0.batch": b"first", f"{prefix}5.batch": b"second"}
    assert store.head(BUCKET, f"{prefix}5.batch").modified_ns == 2_000_000_000
    assert sorted(p.name for p in tmp_path.iterdir()) == [LOG_NAME], "the old files are gone"
