import os
import uuid

from servicekit.ids import new_id


def test_new_ids_are_version_4_uuids_and_never_repeat():
    ids = [new_id() for _ in range(5000)]  # several refills of the buffer
    assert len(set(ids)) == len(ids)
    for made in ids[:300]:
        assert isinstance(made, uuid.UUID) and made.version == 4 and made.variant == uuid.RFC_4122
        assert uuid.UUID(str(made)) == made and hash(uuid.UUID(str(made))) == hash(made)


def test_a_forked_child_does_not_reuse_the_parents_buffer():
    new_id()  # the parent's buffer has ids left
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.write(write, new_id().bytes)
        os._exit(0)
    os.waitpid(pid, 0)
    child = uuid.UUID(bytes=os.read(read, 16))
    parent_next = new_id()
    assert child != parent_next
