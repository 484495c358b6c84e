"""The audit trail is a hash chain with signed checkpoints: verification passes on the untouched log and
names the first altered record after a change, a removal or a consistent rewrite of the chain."""

import hashlib
import json
import uuid
from datetime import UTC, timedelta, timezone

import pytest
from sqlalchemy import text

from audit.db import trail as trail_repo
from audit.domain import trail
from audit.envelope import read_envelope
from audit.events import AuditPipeline, audit_consumer
from devstack import fraud


async def _filled(audit) -> int:
    scenario = fraud.generate(weeks=1, honest_volunteers=4, elders=10)
    await audit.feed(scenario.events)
    result = await audit.verify()
    assert result.ok and result.records == len(scenario.events)
    assert result.checkpoints_checked == result.records // audit.settings.checkpoint_every >= 3  # every one signed
    return result.records


async def test_an_untouched_log_verifies(audit):
    await _filled(audit)


def test_records_hash_exactly_the_documented_bytes():
    """hash(n) = SHA-256(hash(n-1) || header || 0x1E || data), the header as JSON with sorted keys and no
    whitespace, the data as the JSON text the event came in (relays write no whitespace; the module's docstring),
    recomputed here with the standard library from the envelopes as the consumer receives them: a chain stored
    by any earlier version keeps verifying, however the hot path is made faster."""

    def canonical(document: dict) -> bytes:
        return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    def as_sent(data: dict) -> bytes:  # key order kept
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()

    events = fraud.generate(weeks=1, honest_volunteers=4, elders=10).events
    at = events[0].time.astimezone(timezone(timedelta(hours=8)))  # sub-second times, another offset, any text
    events += [
        events[0].model_copy(
            update={
                "id": uuid.uuid4(),
                "time": at + timedelta(microseconds=us),
                "data": {"z": '引号"和\\反斜杠\n', "a": [1, {"c": None, "b": True}]},
            }
        )
        for us in (5000, 123456, 1)
    ]
    prev = trail.GENESIS
    received = [read_envelope(event.to_bytes()) for event in events]
    for number, (record, event) in enumerate(zip(trail._records(received, 0, prev), events, strict=True), 1):
        header = {
            "seq": number,
            "event_id": str(event.id),
            "topic": f"{event.source}.events",
            "type": event.type,
            "subject": event.subject,
            "actor": event.actor,
            "acting_for": event.actingfor,
            "occurred_at": event.time.astimezone(UTC).isoformat(),
        }
        expected = hashlib.sha256(prev + canonical(header) + b"\x1e" + as_sent(event.data)).digest()
        assert (record["seq"], record["prev_hash"], record["hash"]) == (number, prev, expected)
        assert record["payload"].encode() == as_sent(event.data)
        prev = expected


async def test_a_changed_record_is_detected_and_located(audit):
    await _filled(audit)
    await audit.tamper("UPDATE audit_log SET actor = 'someone-else' WHERE seq = 17")
    result = await audit.verify()
    assert not result.ok and result.first_altered_seq == 17 and "content" in result.problem


async def test_a_removed_record_is_detected(audit):
    await _filled(audit)
    await audit.tamper("DELETE FROM audit_log WHERE seq = 23")
    result = await audit.verify()
    assert not result.ok and result.first_altered_seq == 23 and "missing" in result.problem


async def test_a_consistently_rewritten_chain_is_caught_by_the_signed_checkpoints(audit):
    """Someone with database rights changes record 12 and recomputes every hash after it (the chain alone
    then looks fine); the checkpoint at 20 was signed with a key the database does not hold."""
    records = await _filled(audit)
    async with audit.db.engine.begin() as conn:
        from sqlalchemy import text

        rows = (
            await conn.execute(
                text(
                    "SELECT seq, event_id, topic, type, subject, actor, acting_for, occurred_at, payload FROM audit_log"
                    " WHERE seq >= 12 ORDER BY seq"
                )
            )
        ).all()
        prev = bytes((await conn.execute(text("SELECT hash FROM audit_log WHERE seq = 11"))).scalar())
        await conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
        for row in rows:
            payload = '{"forged":true}' if row.seq == 12 else row.payload
            digest = trail.record_hash(
                prev,
                trail.header(
                    row.seq,
                    str(row.event_id),
                    row.topic,
                    row.type,
                    row.subject,
                    row.actor,
                    row.acting_for,
                    row.occurred_at,
                ),
                payload,
            )
            await conn.execute(
                text("UPDATE audit_log SET payload = :p, prev_hash = :prev, hash = :h WHERE seq = :s"),
                {"p": payload, "prev": prev, "h": digest, "s": row.seq},
            )
            prev = digest
        await conn.execute(text("UPDATE chain_head SET hash = :h WHERE id = 1"), {"h": prev})
        await conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only"))
    result = await audit.verify()
    assert not result.ok and result.first_altered_seq == 20 and "checkpoint" in result.problem
    assert records >= 20  # (the rewrite touched records 12..end)


async def test_the_log_refuses_updates_and_deletes(audit):
    await _filled(audit)
    from sqlalchemy import text

    for statement in ("UPDATE audit_log SET actor = 'x' WHERE seq = 1", "DELETE FROM audit_log WHERE seq = 1"):
        try:
            async with audit.db.transaction() as session:
                await session.execute(text(statement))
            raise AssertionError(f"{statement} was allowed")
        except Exception as exc:
            assert "append-only" in str(exc)


async def test_records_drafted_ahead_are_used_only_where_the_chain_really_ends(audit):
    """The consumer drafts a poll's records while the previous poll commits, guessing where the chain will end.
    A right guess is used; a wrong one (another replica appended meanwhile, or a redelivered event made the
    poll smaller) is thrown away and the records computed under the lock: the chain stays whole either way."""
    events = fraud.generate(weeks=1, honest_volunteers=4, elders=10).events
    polls = [events[i : i + 15] for i in range(0, 75, 15)]
    mine, theirs = AuditPipeline(audit.db, audit.settings), AuditPipeline(audit.db, audit.settings)
    me = audit_consumer(audit.db, audit.settings, topics=["unused"], pipeline=mine)
    replica = audit_consumer(audit.db, audit.settings, topics=["unused"], pipeline=theirs)

    def received(events):  # as the consumer reads them
        return [read_envelope(event.to_bytes()) for event in events]

    async def poll(consumer, pipeline, events):
        await pipeline.prepare(received(events))
        await consumer.apply(audit.as_records(events))

    await poll(me, mine, polls[0])  # drafted from the head as read
    await poll(me, mine, polls[1])  # drafted from where poll 0 ended
    assert (mine.chain.drafts_used, mine.chain.drafts_discarded) == (2, 0)

    await mine.prepare(received(polls[2]))
    await poll(replica, theirs, polls[3])  # another replica appends first
    await me.apply(audit.as_records(polls[2]))
    assert (mine.chain.drafts_used, mine.chain.drafts_discarded) == (2, 1)

    again = polls[2][-1:] + polls[4]  # a redelivered event ahead of new ones
    await mine.prepare(received(again))
    await me.apply(audit.as_records(again))
    # The draft went to the whole poll, which the trail refused (it repeats an event); the retry, smaller,
    # computed its own records.
    assert mine.chain.drafts_used == 3

    result = await audit.verify()
    assert result.ok and result.records == 75
    async with audit.db.transaction() as session:
        order = (await session.execute(text("SELECT event_id FROM audit_log ORDER BY seq"))).scalars().all()
    assert order == [e.id for p in (polls[0], polls[1], polls[3], polls[2], polls[4]) for e in p]


async def test_a_poll_repeating_events_of_the_trail_appends_only_the_new_ones(audit, monkeypatch):
    """The trail is asked which events of a poll it holds when the poll is the first after a start, a single
    event, or a retry after the trail refused it: redeliveries are rare, and its event-id key refuses one
    anyway. A poll repeating events — redelivered, or appended by another replica while this one waited for the
    chain's lock (the look-up's snapshot predates the lock) — is refused, retried asking, and appends only the
    new ones."""
    from audit.db import trail as repo
    from servicekit.consumer import CONFLICTS

    events = fraud.generate(weeks=1, honest_volunteers=4, elders=10).events[:40]
    consumer = audit_consumer(audit.db, audit.settings, topics=["unused"])
    retried = CONFLICTS.labels(consumer.name)._value.get()
    await consumer.apply(audit.as_records(events[:25]))  # the first poll asks
    await consumer.apply(audit.as_records(events[15:35], first_offset=15))  # redelivered in part: refused once
    assert CONFLICTS.labels(consumer.name)._value.get() == retried + 1  # the whole poll again, not one by one

    real, stale = repo.lock_head_and_known, [True]

    async def as_if_appended_meanwhile(session, ids):  # the first look-up misses what another replica appended
        head, known = await real(session, ids)
        return (head, set()) if stale and stale.pop() else (head, known)

    monkeypatch.setattr(repo, "lock_head_and_known", as_if_appended_meanwhile)
    await consumer.apply(audit.as_records(events[30:31], first_offset=30))  # one event: asked, stale, refused
    assert CONFLICTS.labels(consumer.name)._value.get() == retried + 2 and not stale
    await consumer.apply(audit.as_records(events[35:], first_offset=35))

    result = await audit.verify()
    assert result.ok and result.records == 40
    async with audit.db.transaction() as session:
        assert (await session.execute(text("SELECT count(DISTINCT event_id) FROM audit_log"))).scalar() == 40


async def test_verification_while_records_are_appended_never_reports_tampering(audit):
    """The check reads the head, the checkpoints and the records as one snapshot: a record appended between
    those reads is not a rewritten log (the console's and the CLI's verification run while the trail grows)."""
    import asyncio

    scenario = fraud.generate(weeks=1, honest_volunteers=4, elders=10)
    appending = asyncio.create_task(audit.feed(scenario.events, poll=10, judge_each=False))
    results = []
    while not appending.done():
        async with audit.db.transaction() as session:
            results.append(await trail.verify(session, audit.signer, chunk=7))
        await asyncio.sleep(0)
    await appending
    assert len(results) > 3
    assert all(r.ok for r in results), [r for r in results if not r.ok][:1]


async def test_copied_rows_belong_to_the_transaction_even_as_its_first_statement(audit):
    async with audit.db.engine.begin() as conn:
        await conn.execute(text("CREATE TABLE copied (event_id uuid PRIMARY KEY, subject text)"))
    rows = [(uuid.uuid4(), f"s{n}") for n in range(3)]
    with pytest.raises(RuntimeError):
        async with audit.db.transaction() as session:
            await trail_repo.copy_rows(session, "copied", ["event_id", "subject"], rows)
            raise RuntimeError("roll back")
    async with audit.db.transaction() as session:
        assert (await session.execute(text("SELECT count(*) FROM copied"))).scalar_one() == 0
        await trail_repo.copy_rows(session, "copied", ["event_id", "subject"], rows)
    async with audit.db.transaction() as session:
        assert (await session.execute(text("SELECT count(*) FROM copied"))).scalar_one() == 3
