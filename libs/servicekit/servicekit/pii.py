"""Personal data at rest: AES-GCM with rotating keys, and a keyed hash to find a record by a value.

Each ciphertext records the id of the key that sealed it; the purpose ("id_number", "address") and the owner
id are bound in as associated data, so a ciphertext copied to another row or field does not decrypt.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import text

from servicekit.db import Database


@dataclass(frozen=True)
class Sealed:
    key_id: str
    blob: bytes


class PersonalDataCipher:
    def __init__(self, keys: dict[str, str], active_key: str, lookup_key: str | None = None) -> None:
        """`keys`: key id -> 32 bytes in urlsafe base64; `active_key` seals, every key opens."""
        self._keys = {kid: AESGCM(base64.urlsafe_b64decode(key)) for kid, key in keys.items()}
        if active_key not in self._keys:
            raise ValueError(f"the active personal-data key {active_key!r} is not among the configured keys")
        self._active = active_key
        self._lookup_key = base64.urlsafe_b64decode(lookup_key) if lookup_key else None

    @property
    def active_key(self) -> str:
        return self._active

    def seal(self, plaintext: str, *, purpose: str, owner: str) -> Sealed:
        nonce = os.urandom(12)
        aad = f"{purpose}:{owner}".encode()
        return Sealed(self._active, nonce + self._keys[self._active].encrypt(nonce, plaintext.encode(), aad))

    def open(self, sealed: Sealed, *, purpose: str, owner: str) -> str:
        aad = f"{purpose}:{owner}".encode()
        return self._keys[sealed.key_id].decrypt(sealed.blob[:12], sealed.blob[12:], aad).decode()

    def lookup_hash(self, value: str) -> bytes:
        if self._lookup_key is None:
            raise ValueError("no lookup key configured")
        return hmac.new(self._lookup_key, value.encode(), hashlib.sha256).digest()


@dataclass(frozen=True)
class SealedColumns:
    """Where a table keeps personal data sealed (each service declares its own in its db/): the key id column,
    each sealed column with its purpose, and the column whose text is bound in as the owner — also the row's key.
    Rows whose key id is in `skip` hold nothing sealed (e.g. an address erased with its account)."""

    table: str
    key_column: str
    owner_column: str
    sealed: dict[str, str]  # column -> purpose
    skip: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class Resealed:
    table: str
    rewritten: int
    remaining: int  # still under another key: rows in use during the pass; run again


async def reseal(db: Database, cipher: PersonalDataCipher, where: SealedColumns, *, batch: int = 500) -> Resealed:
    """Seal again under the active key every value of `where` sealed under another (key rotation: the retired
    key may leave the configuration once nothing remains under it). Each batch commits on its own, so a long
    run can be stopped and started again; a row locked by a request in flight is left for the next run."""
    columns = ", ".join(where.sealed)
    still_due = f"{where.key_column} <> :active AND NOT ({where.key_column} = ANY(:skip))"
    pick = (
        f"SELECT {where.owner_column} AS position, {where.owner_column}::text AS owner, {where.key_column} AS key_id,"
        f" {columns} FROM {where.table} WHERE {still_due}"
    )
    order = f" ORDER BY {where.owner_column} LIMIT :batch FOR UPDATE SKIP LOCKED"
    # Each batch starts after the last one's last owner. Started from the first owner again, every batch would
    # step over every row resealed before it: a pass over the table per batch.
    first, after = text(pick + order), text(f"{pick} AND {where.owner_column} > :after{order}")
    assignments = ", ".join(f"{column} = :{column}" for column in where.sealed)
    # By the key column itself, which its index finds; compared as text, every row's update scanned the table.
    rewrite = text(
        f"UPDATE {where.table} SET {where.key_column} = :active, {assignments}"
        f" WHERE {where.owner_column} = :position AND {where.key_column} = :old"
    )
    rewritten, position = 0, None
    while True:
        async with db.transaction() as session:
            params = {"active": cipher.active_key, "skip": list(where.skip), "batch": batch}
            statement, params = (first, params) if position is None else (after, params | {"after": position})
            rows = (await session.execute(statement, params)).all()
            for row in rows:
                values = {
                    column: cipher.seal(
                        cipher.open(Sealed(row.key_id, bytes(getattr(row, column))), purpose=purpose, owner=row.owner),
                        purpose=purpose,
                        owner=row.owner,
                    ).blob
                    for column, purpose in where.sealed.items()
                }
                await session.execute(
                    rewrite, {**values, "active": cipher.active_key, "position": row.position, "old": row.key_id}
                )
        rewritten += len(rows)
        if len(rows) < batch:
            break
        position = rows[-1].position
    async with db.transaction() as session:
        remaining = (
            await session.execute(
                text(f"SELECT count(*) FROM {where.table} WHERE {still_due}"),
                {"active": cipher.active_key, "skip": list(where.skip)},
            )
        ).scalar_one()
    return Resealed(where.table, rewritten, remaining)
