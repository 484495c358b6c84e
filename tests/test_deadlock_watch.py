"""The test harness judges the whole run by PostgreSQL's own log: a deadlock anywhere fails the run, since the
test whose request happened to lose it would only fail now and then (devstack.pytest_plugin.deadlocks_broken)."""

import asyncio

import asyncpg
import pytest

from devstack.postgres import EmbeddedPostgres, free_port
from devstack.pytest_plugin import deadlocks_broken


async def test_two_transactions_that_wait_for_each_other_are_found_in_the_log_and_a_raised_sqlstate_is_not(tmp_path):
    postgres = EmbeddedPostgres(tmp_path / "pg", free_port(), log_dir=tmp_path / "logs", durable=False)
    postgres.start()
    try:
        dsn = postgres.url("postgres", driver="postgresql")
        setup = await asyncpg.connect(dsn)
        await setup.execute("CREATE TABLE seats (id int PRIMARY KEY, taken boolean); INSERT INTO seats VALUES (1), (2)")
        with pytest.raises(asyncpg.DeadlockDetectedError):  # what a test of a retry does: the SQLSTATE alone
            await setup.execute(
                "DO $$ BEGIN RAISE EXCEPTION 'deadlock detected' USING ERRCODE = 'deadlock_detected'; END $$"
            )
        first, second = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
        first_tx, second_tx = first.transaction(), second.transaction()
        await first_tx.start()
        await second_tx.start()
        await first.execute("UPDATE seats SET taken = true WHERE id = 1")
        await second.execute("UPDATE seats SET taken = true WHERE id = 2")
        crossed = await asyncio.gather(
            first.execute("UPDATE seats SET taken = true WHERE id = 2"),
            second.execute("UPDATE seats SET taken = true WHERE id = 1"),
            return_exceptions=True,
        )
        assert sum(isinstance(outcome, asyncpg.DeadlockDetectedError) for outcome in crossed) == 1
        for connection in (first, second, setup):
            await connection.close()
    finally:
        postgres.stop()
    [found] = deadlocks_broken(postgres.child.log_path)
    assert "waits for ShareLock on transaction" in found
    assert found.count("UPDATE seats SET taken = true WHERE id = ") == 2, found
