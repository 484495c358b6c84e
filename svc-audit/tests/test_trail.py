"""The audit trail is a hash chain with signed checkpoints: verification passes on the untouched log and
names the first altered record after a change, a removal or a consistent rewrite of the chain."""
import hashlib

from devstack import fraud

from audit.domain import trail


async def _filled(audit) -> int:
    scenario = fraud.generate(weeks=1, honest_volunteers=4, elders=10)
    await audit.feed(scenario.events)
    result = await audit.verify()
    assert result.ok and result.records == len(scenario.events) and result.checkpoints_checked >= 3
    return result.records


async def test_an_untouched_log_verifies(audit):
    await _filled(audit)


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
        rows = (await conn.execute(text(
            "SELECT seq, event_id, topic, type, subject, actor, acting_for, occurred_at, payload FROM audit_log"
            " WHERE seq >= 12 ORDER BY seq"))).all()
        prev = bytes((await conn.execute(text("SELECT hash FROM audit_log WHERE seq = 11"))).scalar())
        await conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
        for row in rows:
            payload = '{"forged":true}' if row.seq == 12 else row.payload
            digest = trail.record_hash(prev, trail.header(row.seq, str(row.event_id), row.topic, row.type, row.subject,
                                                          row.actor, row.acting_for, row.occurred_at), payload)
            await conn.execute(text("UPDATE audit_log SET payload = :p, prev_hash = :prev, hash = :h WHERE seq = :s"),
                               {"p": payload, "prev": prev, "h": digest, "s": row.seq})
            prev = digest
        await conn.execute(text("UPDATE chain_head SET hash = :h WHERE id = 1"), {"h": prev})
        await conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only"))
    result = await audit.verify()
    assert not result.ok and result.first_altered_seq == 20 and "checkpoint" in result.problem
    assert records >= 20 and hashlib.sha256  # (the rewrite touched records 12..end)


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
