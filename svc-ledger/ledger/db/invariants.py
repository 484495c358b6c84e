"""The ledger's invariants, checked by `python -m ledger verify` and by the tests after every scenario.

Each check is one query returning the offending rows (empty when the invariant holds).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

CHECKS: dict[str, str] = {
    "every transfer balances (one debit and one credit entry of its amount; none for holds)": """
        SELECT t.id FROM transfers t LEFT JOIN entries e ON e.transfer_id = t.id
        GROUP BY t.id, t.code, t.amount, t.debit_account_id, t.credit_account_id
        HAVING (t.code IN ('transfer', 'post') AND NOT (
                    count(e.id) = 2 AND coalesce(sum(e.amount), 0) = 0
                    AND bool_or(e.account_id = t.debit_account_id AND e.amount = -t.amount)
                    AND bool_or(e.account_id = t.credit_account_id AND e.amount = t.amount)))
            OR (t.code NOT IN ('transfer', 'post') AND count(e.id) <> 0)""",
    "the sum of all balances is zero": """
        SELECT sum(balance) FROM accounts HAVING sum(balance) <> 0""",
    "no account below zero or below its holds (issuance accounts carry the negative side)": """
        SELECT id FROM accounts WHERE held < 0 OR (kind <> 'district_issuance' AND balance < held)""",
    "stored balances equal the sum of entries and the last entry's balance_after": """
        SELECT a.id FROM accounts a
        LEFT JOIN LATERAL (SELECT coalesce(sum(amount), 0) AS total FROM entries WHERE account_id = a.id) s ON true
        LEFT JOIN LATERAL (SELECT balance_after FROM entries WHERE account_id = a.id ORDER BY id DESC LIMIT 1) l ON true
        WHERE a.balance <> s.total OR a.balance <> coalesce(l.balance_after, 0)""",
    "held equals the pending transfers not yet resolved": """
        SELECT a.id FROM accounts a
        LEFT JOIN LATERAL (SELECT coalesce(sum(p.amount), 0) AS open FROM transfers p
                           WHERE p.debit_account_id = a.id AND p.code = 'pending'
                           AND NOT EXISTS (SELECT 1 FROM transfers r WHERE r.pending_id = p.id)) h ON true
        WHERE a.held <> h.open""",
    "every hold resolves at most once, on its own accounts, for no more than it held": """
        SELECT r.id FROM transfers r JOIN transfers p ON p.id = r.pending_id
        WHERE p.code <> 'pending' OR r.debit_account_id <> p.debit_account_id
           OR r.credit_account_id <> p.credit_account_id OR r.amount > p.amount
           OR (r.code IN ('void', 'expire') AND r.amount <> p.amount)
        UNION ALL
        SELECT pending_id FROM transfers WHERE pending_id IS NOT NULL GROUP BY pending_id HAVING count(*) > 1""",
    "a hold is pending exactly while its transfers are unresolved": """
        SELECT h.id FROM holds h
        WHERE (h.status = 'pending') <> EXISTS (
            SELECT 1 FROM transfers p WHERE p.reference = h.request_id AND p.code = 'pending'
            AND NOT EXISTS (SELECT 1 FROM transfers r WHERE r.pending_id = p.id))""",
}


async def violations(session: AsyncSession) -> dict[str, list]:
    """Every broken invariant with (up to 20 of) the rows that break it."""
    found: dict[str, list] = {}
    for name, query in CHECKS.items():
        rows = (await session.execute(text(query + " LIMIT 20" if "UNION" not in query else query))).all()
        if rows:
            found[name] = [row[0] for row in rows[:20]]
    return found
