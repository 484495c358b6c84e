"""Queries on notifications waiting to be sent, on contact phones (sealed) and on who may read them for a follow-up."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.db import rowcount
from servicekit.pagination import PageRequest, keyset_text

# Due notifications, urgent ones first (those that may fall back to SMS: a responder's alert must not queue
# behind a day's booking confirmations), then oldest first, leased until :until. A person whose earlier
# messages are still out (leased) is passed over, so their messages go one after another in order.
_CLAIM = text("""
WITH claimed AS (
    SELECT n.id FROM notifications n
    WHERE n.status = 'pending' AND n.next_attempt_at <= :now
      AND (n.leased_until IS NULL OR n.leased_until <= :real_now)
      AND NOT EXISTS (SELECT 1 FROM notifications o WHERE o.person_id = n.person_id AND o.status = 'pending'
                      AND o.leased_until > :real_now)
    ORDER BY (n.fallback IS NOT NULL OR n.only_channel IS NOT NULL) DESC, n.requested_at, n.id LIMIT :limit
    FOR UPDATE SKIP LOCKED
)
UPDATE notifications n SET leased_until = :until FROM claimed WHERE n.id = claimed.id
RETURNING n.id, n.person_id, n.template, n.data, n.page, n.attempts, n.fallback, n.only_channel, n.requested_at,
          (SELECT w.openid FROM wechat_accounts w WHERE w.person_id = n.person_id) AS openid
""")


async def accept(
    session: AsyncSession,
    *,
    notification_id: uuid.UUID,
    person_id: uuid.UUID,
    template: str,
    data: dict,
    page: str | None,
    source_event: uuid.UUID,
    requested_at: datetime,
    fallback: str | None,
    only_channel: str | None = None,
) -> None:
    """Once per notification id: a redelivered request is ignored."""
    await session.execute(
        text(
            "INSERT INTO notifications (id, person_id, template, data, page, source_event, requested_at, fallback,"
            " only_channel) VALUES (:id, :p, :t, CAST(:d AS jsonb), :page, :e, :at, :f, :only)"
            " ON CONFLICT (id) DO NOTHING"
        ),
        {
            "id": notification_id,
            "p": person_id,
            "t": template,
            "d": json.dumps(data, ensure_ascii=False),
            "page": page,
            "e": source_event,
            "at": requested_at,
            "f": fallback,
            "only": only_channel,
        },
    )


def _urgent_first(row: dict) -> tuple:
    return (row["fallback"] is None and row["only_channel"] is None, row["requested_at"], row["id"])


async def claim_due(
    session: AsyncSession, now: datetime, limit: int, *, real_now: datetime, until: datetime
) -> list[dict]:
    """Due notifications with the person's openid, in the order they are to go (see `_CLAIM`), leased until
    `until` (a real time, as the sends' timeouts are); `now` (the service clock) decides what is due."""
    params = {"now": now, "limit": limit, "real_now": real_now, "until": until}
    rows = [dict(r) for r in (await session.execute(_CLAIM, params)).mappings().all()]
    return sorted(rows, key=_urgent_first)


async def count_due(session: AsyncSession, now: datetime) -> int:
    return (
        await session.execute(
            text("SELECT count(*) FROM notifications WHERE status = 'pending' AND next_attempt_at <= :now"),
            {"now": now},
        )
    ).scalar_one()


# Both record only what this delivery still holds: were its lease to have run out and another delivery taken
# the message, that one's outcome stands. True when recorded.
async def retry_later(
    session: AsyncSession, notification_id: uuid.UUID, error: str, next_attempt_at: datetime, *, lease: datetime
) -> bool:
    result = await session.execute(
        text(
            "UPDATE notifications SET attempts = attempts + 1, last_error = :e, next_attempt_at = :next,"
            " leased_until = NULL WHERE id = :id AND leased_until = :lease"
        ),
        {"e": error[:500], "next": next_attempt_at, "id": notification_id, "lease": lease},
    )
    return rowcount(result) == 1


async def release(session: AsyncSession, ids: list[uuid.UUID], *, lease: datetime) -> None:
    """Leased messages that were not tried: due again as they were."""
    if ids:
        await session.execute(
            text("UPDATE notifications SET leased_until = NULL WHERE id = ANY(:ids) AND leased_until = :lease"),
            {"ids": ids, "lease": lease},
        )


async def finish(
    session: AsyncSession,
    notification_id: uuid.UUID,
    status: str,
    error: str | None,
    now: datetime,
    *,
    channel: str | None,
    lease: datetime,
) -> bool:
    result = await session.execute(
        text(
            "UPDATE notifications SET status = :s, attempts = attempts + 1, last_error = :e, channel = :c,"
            " sent_at = CASE WHEN :s = 'sent' THEN CAST(:now AS timestamptz) END, leased_until = NULL"
            " WHERE id = :id AND leased_until = :lease"
        ),
        {"s": status, "e": error, "c": channel, "now": now, "id": notification_id, "lease": lease},
    )
    return rowcount(result) == 1


async def save_phone(
    session: AsyncSession, person_id: uuid.UUID, *, key_id: str, sealed: bytes, masked: str, now: datetime
) -> None:
    await session.execute(
        text(
            "INSERT INTO contact_phones VALUES (:p, :k, :s, :m, :now) ON CONFLICT (person_id) DO UPDATE"
            " SET key_id = :k, sealed = :s, masked = :m, updated_at = :now"
        ),
        {"p": person_id, "k": key_id, "s": sealed, "m": masked, "now": now},
    )


async def masked_phone(session: AsyncSession, person_id: uuid.UUID) -> str | None:
    return (
        await session.execute(text("SELECT masked FROM contact_phones WHERE person_id = :p"), {"p": person_id})
    ).scalar()


async def sealed_phone(session: AsyncSession, person_id: uuid.UUID) -> tuple[str, bytes] | None:
    row = (
        await session.execute(text("SELECT key_id, sealed FROM contact_phones WHERE person_id = :p"), {"p": person_id})
    ).first()
    return (row.key_id, bytes(row.sealed)) if row else None


async def save_pending_phone(
    session: AsyncSession,
    person_id: uuid.UUID,
    *,
    key_id: str,
    sealed: bytes,
    masked: str,
    code_hash: bytes,
    salt: bytes,
    sent_at: datetime,
    expires_at: datetime,
) -> None:
    await session.execute(
        text(
            "INSERT INTO phone_verifications VALUES (:p, :k, :s, :m, :h, :salt, 0, :sent, :exp) ON CONFLICT (person_id)"
            " DO UPDATE SET key_id = :k, sealed = :s, masked = :m, code_hash = :h, salt = :salt, attempts = 0,"
            " sent_at = :sent, expires_at = :exp"
        ),
        {
            "p": person_id,
            "k": key_id,
            "s": sealed,
            "m": masked,
            "h": code_hash,
            "salt": salt,
            "sent": sent_at,
            "exp": expires_at,
        },
    )


async def pending_phone(session: AsyncSession, person_id: uuid.UUID, *, lock: bool = False) -> dict | None:
    row = (
        (
            await session.execute(
                text(
                    "SELECT key_id, sealed, masked, code_hash, salt, attempts, sent_at, expires_at FROM phone_verifications"
                    " WHERE person_id = :p" + (" FOR UPDATE" if lock else "")
                ),
                {"p": person_id},
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


async def count_attempt(session: AsyncSession, person_id: uuid.UUID) -> None:
    await session.execute(
        text("UPDATE phone_verifications SET attempts = attempts + 1 WHERE person_id = :p"), {"p": person_id}
    )


async def drop_pending_phone(session: AsyncSession, person_id: uuid.UUID) -> None:
    await session.execute(text("DELETE FROM phone_verifications WHERE person_id = :p"), {"p": person_id})


_INBOX_COLUMNS = "id, template, data, page, status, channel, requested_at, sent_at, read_at"


async def inbox(session: AsyncSession, person_id: uuid.UUID, page: PageRequest, *, unread_only: bool) -> list[dict]:
    """One page of a person's messages, newest first (requested_at, id)."""
    after, params = keyset_text(page, "requested_at", "id")
    unread = " AND read_at IS NULL" if unread_only else ""
    rows = await session.execute(
        text(
            f"SELECT {_INBOX_COLUMNS} FROM notifications WHERE person_id = :p{unread} AND {after}"
            " ORDER BY requested_at DESC, id DESC LIMIT :fetch"
        ),
        {"p": person_id} | params,
    )
    return [dict(r) for r in rows.mappings().all()]


async def unread_count(session: AsyncSession, person_id: uuid.UUID) -> int:
    return (
        await session.execute(
            text("SELECT count(*) FROM notifications WHERE person_id = :p AND read_at IS NULL"), {"p": person_id}
        )
    ).scalar_one()


async def mark_read(session: AsyncSession, person_id: uuid.UUID, message_id: uuid.UUID, now: datetime) -> dict | None:
    """Read once: a second mark keeps the first time. None when the person has no such message."""
    row = (
        (
            await session.execute(
                text(
                    "UPDATE notifications SET read_at = COALESCE(read_at, :now) WHERE id = :id AND person_id = :p"
                    f" RETURNING {_INBOX_COLUMNS}"
                ),
                {"now": now, "id": message_id, "p": person_id},
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


async def mark_all_read(session: AsyncSession, person_id: uuid.UUID, now: datetime) -> int:
    result = await session.execute(
        text("UPDATE notifications SET read_at = :now WHERE person_id = :p AND read_at IS NULL"),
        {"now": now, "p": person_id},
    )
    return rowcount(result)


async def follow_up_taken(
    session: AsyncSession, follow_up_id: uuid.UUID, elder_id: uuid.UUID, operator_id: str | None
) -> None:
    """The operator who may read the elder's contact for this follow-up (None: nobody, for now)."""
    await session.execute(
        text(
            "INSERT INTO follow_up_contacts (follow_up_id, elder_id, operator_id) VALUES (:f, :e, :o)"
            " ON CONFLICT (follow_up_id) DO UPDATE SET operator_id = excluded.operator_id"
            " WHERE NOT follow_up_contacts.closed"
        ),
        {"f": follow_up_id, "e": elder_id, "o": operator_id},
    )


async def follow_up_closed(session: AsyncSession, follow_up_id: uuid.UUID, elder_id: uuid.UUID) -> None:
    await session.execute(
        text(
            "INSERT INTO follow_up_contacts (follow_up_id, elder_id, operator_id, closed) VALUES (:f, :e, NULL, true)"
            " ON CONFLICT (follow_up_id) DO UPDATE SET operator_id = NULL, closed = true"
        ),
        {"f": follow_up_id, "e": elder_id},
    )


async def may_read_contact(
    session: AsyncSession, follow_up_id: uuid.UUID, elder_id: uuid.UUID, operator_id: str
) -> bool:
    return bool(
        await session.scalar(
            text(
                "SELECT EXISTS (SELECT 1 FROM follow_up_contacts WHERE follow_up_id = :f AND elder_id = :e"
                " AND operator_id = :o AND NOT closed)"
            ),
            {"f": follow_up_id, "e": elder_id, "o": operator_id},
        )
    )
