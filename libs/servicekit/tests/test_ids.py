import os
import time
import uuid

from servicekit.context import child_traceparent, new_request_id
from servicekit.ids import new_id, random_id


def _well_formed(made: uuid.UUID, version: int) -> None:
    assert isinstance(made, uuid.UUID) and made.version == version and made.variant == uuid.RFC_4122
    assert uuid.UUID(str(made)) == made and hash(uuid.UUID(str(made))) == hash(made)


def test_new_ids_are_version_7_uuids_that_start_with_their_millisecond_and_never_repeat():
    before = time.time_ns() // 1_000_000
    ids = [new_id() for _ in range(5000)]  # several refills of the buffer
    after = time.time_ns() // 1_000_000
    assert len(set(ids)) == len(ids)
    for made in ids[:300]:
        _well_formed(made, 7)
        assert before <= made.int >> 80 <= after


def test_ids_made_in_later_milliseconds_sort_after_earlier_ones_and_the_rest_is_random():
    first = [new_id() for _ in range(50)]
    time.sleep(0.002)
    later = [new_id() for _ in range(50)]
    assert max(first) < min(later)  # index inserts land on the newest leaves (ADR 21)
    random_parts = {made.int & ((1 << 62) - 1) for made in first + later}
    assert len(random_parts) == 100
    # Within one millisecond the order is the random bits' order, not the order of making.
    same_ms = [new_id() for _ in range(2000)]
    by_ms: dict[int, list[uuid.UUID]] = {}
    for made in same_ms:
        by_ms.setdefault(made.int >> 80, []).append(made)
    crowded = max(by_ms.values(), key=len)
    assert len(crowded) < 10 or crowded != sorted(crowded)  # 2,000 in a loop share milliseconds by the hundred


def test_request_and_trace_ids_are_random_version_4():
    ids = [random_id() for _ in range(300)]
    assert len(set(ids)) == len(ids)
    for made in ids:
        _well_formed(made, 4)
    assert uuid.UUID(new_request_id()).version == 4
    # The span id is the first 16 hex digits: with a time-ordered id, spans of one millisecond would share most.
    spans = {child_traceparent(None).split("-")[2] for _ in range(300)}
    assert len(spans) == 300 and len({span[:8] for span in spans}) > 250


def test_a_forked_child_does_not_reuse_the_parents_buffer():
    new_id()  # the parent's buffer has ids left
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.write(write, new_id().bytes + random_id().bytes)
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 32)
    parent_next = new_id().bytes + random_id().bytes
    assert child[6:] != parent_next[6:]  # the first six bytes are the millisecond, which they may share
