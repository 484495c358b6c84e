from datetime import UTC, datetime

import pytest

from servicekit.pagination import InvalidCursor, PageRequest, all_pages, decode_cursor, encode_cursor, page_of


def test_a_cursor_names_its_list_and_round_trips():
    at = datetime(2026, 12, 6, 8, 30, tzinfo=UTC)
    cursor = encode_cursor("inbox", at, "00000000-0000-4000-8000-000000000001")
    after = decode_cursor("inbox", cursor)
    assert (after.at, after.id) == (at, "00000000-0000-4000-8000-000000000001")
    with pytest.raises(InvalidCursor):
        decode_cursor("requests", cursor)  # another list's cursor
    with pytest.raises(InvalidCursor):
        decode_cursor("inbox", cursor[:-3])


def test_a_page_says_whether_another_follows_from_one_extra_row():
    rows = [
        {"id": f"00000000-0000-4000-8000-00000000000{n}", "at": datetime(2026, 12, 6, 8, n, tzinfo=UTC)}
        for n in range(3)
    ]
    shown, cursor = page_of("inbox", rows, PageRequest(None, 2), at="at")
    assert shown == rows[:2] and decode_cursor("inbox", cursor).id == rows[1]["id"]
    shown, cursor = page_of("inbox", rows[:2], PageRequest(None, 2), at="at")
    assert shown == rows[:2] and cursor is None


def test_a_ranked_list_carries_the_rank_and_a_forged_one_is_refused():
    at = datetime(2026, 12, 6, 8, 30, tzinfo=UTC)
    after = decode_cursor("alerts", encode_cursor("alerts", at, "00000000-0000-4000-8000-000000000001", 3))
    assert after.rank == 3
    import base64

    forged = base64.urlsafe_b64encode(
        b'["alerts","2026-12-06T08:30:00+00:00","00000000-0000-4000-8000-000000000001","3 OR 1=1"]'
    ).decode()
    with pytest.raises(InvalidCursor):
        decode_cursor("alerts", forged)


async def test_all_pages_follows_the_cursor_to_the_end_without_repeating_or_skipping():
    rows = [
        {"id": f"00000000-0000-4000-8000-{n:012d}", "at": datetime(2026, 12, 6, 8, 59 - n, tzinfo=UTC)}
        for n in range(7)
    ]  # newest first, as every list is
    asked: list[PageRequest] = []

    async def fetch(page: PageRequest):
        asked.append(page)
        after = [r for r in rows if page.after is None or (r["at"], r["id"]) < (page.after.at, page.after.id)]
        return page_of("inbox", after[: page.fetch], page, at="at")

    assert await all_pages("inbox", fetch, size=3) == rows
    assert len(asked) == 3 and asked[0].after is None
