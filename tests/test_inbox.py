"""The in-app inbox (identity): every message sent to a person stays there, newest first in cursor pages, with an
unread count, marks read, and how it was delivered."""

import uuid

from devstack import scenario


async def _inbox(gateway, person, **params):
    response = await gateway.get("/api/v1/me/inbox", headers=person.headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_every_message_is_kept_listed_in_pages_and_marked_read(gateway, helpers):
    elder = await scenario.elder_with_coins(gateway, 600)
    requests = [await scenario.approved_request(gateway, elder, hours_ahead=6 + n) for n in range(3)]

    async def all_three_sent():
        inbox = await _inbox(gateway, elder)
        return inbox if len(inbox["items"]) == 3 and all(m["delivery"] == "sent" for m in inbox["items"]) else None

    inbox = await helpers.eventually(all_three_sent, timeout=30)
    assert inbox, "three review messages, delivered"
    newest = inbox["items"][0]
    assert newest["title"] == "需求审核结果" and newest["template"] == "request_reviewed"
    assert newest["page"].endswith(requests[-1]), "newest first"
    assert newest["channel"] == "wechat" and newest["sent_at"] and newest["read_at"] is None
    assert "审核通过" in newest["summary"] and inbox["unread"] == 3 and inbox["next_cursor"] is None

    first = await _inbox(gateway, elder, limit=2)
    second = await _inbox(gateway, elder, limit=2, cursor=first["next_cursor"])
    assert len(first["items"]) == 2 and first["next_cursor"] and len(second["items"]) == 1
    assert second["next_cursor"] is None
    assert [m["id"] for m in first["items"] + second["items"]] == [m["id"] for m in inbox["items"]]

    read = await gateway.post(f"/api/v1/me/inbox/{newest['id']}/read", headers=elder.headers)
    assert read.status_code == 200 and read.json()["read_at"], read.text
    again = await gateway.post(f"/api/v1/me/inbox/{newest['id']}/read", headers=elder.headers)
    assert again.json()["read_at"] == read.json()["read_at"], "read once: the first time stays"
    count = await gateway.get("/api/v1/me/inbox/unread-count", headers=elder.headers)
    assert count.json() == {"unread": 2}
    unread = await _inbox(gateway, elder, unread="true")
    assert newest["id"] not in [m["id"] for m in unread["items"]] and len(unread["items"]) == 2

    marked = await gateway.post("/api/v1/me/inbox/read-all", headers=elder.headers)
    assert marked.json() == {"marked": 2}
    assert (await _inbox(gateway, elder))["unread"] == 0


async def test_an_inbox_is_its_owners_alone(gateway, helpers):
    elder = await scenario.elder_with_coins(gateway, 300)
    await scenario.approved_request(gateway, elder, hours_ahead=6)
    message = (await helpers.eventually(lambda: _messages(gateway, elder), timeout=30))[0]
    other = await scenario.resident(gateway, born=1950)
    assert (await _inbox(gateway, other))["items"] == []
    stolen = await gateway.post(f"/api/v1/me/inbox/{message['id']}/read", headers=other.headers)
    assert stolen.status_code == 404 and stolen.headers["content-type"].startswith("application/problem+json")
    assert (await gateway.get("/api/v1/me/inbox")).status_code == 401
    officer = await scenario.staff(gateway, "officer-110105")
    assert (await gateway.get("/api/v1/me/inbox", headers=officer)).status_code == 403
    missing = await gateway.post(f"/api/v1/me/inbox/{uuid.uuid4()}/read", headers=elder.headers)
    assert missing.status_code == 404


async def _messages(gateway, person):
    return (await _inbox(gateway, person))["items"]


async def test_a_cursor_is_only_good_for_its_own_list(gateway):
    person = await scenario.resident(gateway, born=1950)
    for cursor in ("not-a-cursor", "W10", "eyJ4IjoxfQ"):
        response = await gateway.get("/api/v1/me/inbox", headers=person.headers, params={"cursor": cursor})
        assert response.status_code == 400 and response.json()["type"].endswith("invalid-cursor"), response.text
    assert (await gateway.get("/api/v1/me/inbox", headers=person.headers, params={"limit": 0})).status_code == 422
