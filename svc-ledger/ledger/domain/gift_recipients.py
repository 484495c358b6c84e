"""Who may receive a person's gift of time coins. This file owns the rule (DOMAIN.md: 时间币可赠与直系亲属):
change it here and nowhere else.

A gift goes only to a confirmed direct relative whose relation to the giver is one of `GIFT_RELATIONS`,
whichever of the two claimed the link (identity confirms links and sends them; the ledger keeps them in
`kin_links`). Never to oneself. A link recorded before the ledger kept relations counts as a direct relative
of any of these kinds (identity only ever confirms these kinds).
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.identity import INVERSE_RELATION
from ledger.db import kin_links
from servicekit.errors import UnprocessableInput

# The recipient's relation to the giver.
GIFT_RELATIONS = frozenset({"parent", "child", "grandparent", "grandchild"})


class NotADirectRelative(UnprocessableInput):
    type = "not-a-direct-relative"
    title_zh, title_en = "只能赠送给已确认的直系亲属", "Coins may be gifted only to a confirmed direct relative"


async def allowed(session: AsyncSession, gifts: list[tuple[uuid.UUID, uuid.UUID]]) -> set[tuple[uuid.UUID, uuid.UUID]]:
    """Of the (giver, recipient) pairs, those the rule allows; one statement for any number."""
    asked = [(giver, recipient) for giver, recipient in gifts if giver != recipient]
    return {
        (link.a, link.b)
        for link in await kin_links.links_between(session, asked)
        if _recipients_relation(link) in GIFT_RELATIONS or link.relation is None
    }


def _recipients_relation(link: kin_links.Link) -> str | None:
    """The recipient's (b's) relation to the giver (a): as recorded when the giver claimed the link, else its
    inverse (if the giver is the recipient's child, the recipient is the giver's parent)."""
    if link.relation is None or link.from_a:
        return link.relation
    return INVERSE_RELATION[link.relation]
