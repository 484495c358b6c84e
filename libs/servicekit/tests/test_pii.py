import asyncio
import base64
import os
import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from servicekit.pii import PersonalDataCipher, Sealed, SealedColumns, reseal

PEOPLE = SealedColumns("people", "key_id", "person_id", {"name_sealed": "name"})
_ROWS_READ = text(
    "SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) FROM pg_stat_user_tables WHERE relname = 'people'"
)


def _key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


async def _rows_read(url: str) -> int:
    """Rows the `people` table has handed out (sequential scans and index fetches) once the backends that read it
    have exited and reported: a pass over the table shows here, however long it took."""
    engine = create_async_engine(url, pool_size=1)
    try:
        last, steady = -1, 0
        while steady < 3:  # an exiting backend reports its counts as it goes
            async with engine.connect() as conn:
                read = (await conn.execute(_ROWS_READ)).scalar_one()
            steady, last = (steady + 1, last) if read == last else (0, read)
            await asyncio.sleep(0.2)
        return last
    finally:
        await engine.dispose()


async def test_a_key_rotation_reseals_each_row_once_in_about_one_pass_over_the_table(kit):
    """2,000 people in batches of 100: each batch starts where the last one ended and each row is rewritten
    through its key, so the table is read a few times in all (pick, rewrite, count), not once per batch or per
    row. A row held by a request in flight is left for the next run, and counted."""
    settings, db = kit
    k1 = _key()
    old = PersonalDataCipher({"k1": k1}, "k1")
    people = {uuid.uuid4(): f"老人{n}" for n in range(2000)}
    async with db.transaction() as session:
        await session.execute(
            text("CREATE TABLE people (person_id uuid PRIMARY KEY, key_id text NOT NULL, name_sealed bytea NOT NULL)")
        )
        await session.execute(
            text(
                "INSERT INTO people SELECT * FROM"
                " unnest(CAST(:ids AS uuid[]), CAST(:keys AS text[]), CAST(:blobs AS bytea[]))"
            ),
            {
                "ids": list(people),
                "keys": ["k1"] * len(people),
                "blobs": [old.seal(name, purpose="name", owner=str(p)).blob for p, name in people.items()],
            },
        )
    new = PersonalDataCipher({"k1": k1, "k2": _key()}, "k2")
    held = sorted(people)[1000]
    await db.dispose()
    before = await _rows_read(settings.database_url)

    async with db.transaction() as request_in_flight:
        await request_in_flight.execute(text("SELECT 1 FROM people WHERE person_id = :p FOR UPDATE"), {"p": held})
        first = await reseal(db, new, PEOPLE, batch=100)
    await db.dispose()
    read = await _rows_read(settings.database_url) - before

    assert (first.rewritten, first.remaining) == (1999, 1)
    assert read < 5 * len(people), f"{read} rows read to reseal {len(people)}"
    second = await reseal(db, new, PEOPLE, batch=100)
    assert (second.rewritten, second.remaining) == (1, 0)
    async with db.transaction() as session:
        rows = (await session.execute(text("SELECT person_id, key_id, name_sealed FROM people"))).all()
    assert {key for _, key, _ in rows} == {"k2"}
    assert {p: new.open(Sealed(k, bytes(b)), purpose="name", owner=str(p)) for p, k, b in rows} == people
