"""Refresh-token rotation, and reuse detection that ends the whole sign-in; signing out."""

import uuid


async def refresh(gateway, token: str):
    return await gateway.post("/api/v1/auth/refresh", json={"refresh_token": token})


async def test_each_refresh_rotates_and_a_reused_token_revokes_the_family(gateway, helpers, sql):
    login = await helpers.login(gateway)
    first = await refresh(gateway, login["refresh_token"])
    assert first.status_code == 200, first.text
    rotated = first.json()
    assert rotated["refresh_token"] != login["refresh_token"]
    me = await gateway.get("/api/v1/me", headers={"Authorization": f"Bearer {rotated['access_token']}"})
    assert me.json()["id"] == login["person_id"]

    reused = await refresh(gateway, login["refresh_token"])  # the old one again: someone copied it
    assert reused.status_code == 401 and reused.json()["type"].endswith("/refresh-token-reused")
    after = await refresh(gateway, rotated["refresh_token"])  # the legitimate newest one is dead too
    assert after.status_code == 401 and after.json()["type"].endswith("/refresh-rejected")
    assert (
        await sql["identity"].scalar(
            "SELECT count(*) FROM refresh_tokens WHERE subject = :s AND revoked_at IS NULL", s=login["person_id"]
        )
        == 0
    )
    assert not await sql["identity"].scalar(
        "SELECT bool_or(position(:t in encode(token_hash, 'escape')) > 0) FROM refresh_tokens",
        t=rotated["refresh_token"],
    )


async def test_staff_refresh_carries_current_roles_and_unknown_tokens_are_refused(gateway):
    staff = (
        await gateway.post(
            "/api/v1/auth/token",
            data={"grant_type": "password", "username": "officer-110101", "password": "demo-password-2026"},
        )
    ).json()
    rotated = await refresh(gateway, staff["refresh_token"])
    me = await gateway.get("/api/v1/me", headers={"Authorization": f"Bearer {rotated.json()['access_token']}"})
    assert me.json()["roles"] == ["district_officer"] and me.json()["district"] == "110101"
    unknown = await refresh(gateway, "x" * 43)
    assert unknown.status_code == 401 and unknown.json()["error"] == "invalid_grant"
    assert (await gateway.post("/api/v1/auth/refresh", json={})).status_code == 422


def _bearer(login: dict) -> dict:
    return {"Authorization": f"Bearer {login['access_token']}"}


async def test_sign_out_ends_this_sign_in_or_every_one(gateway, helpers):
    openid = f"sign-out-{uuid.uuid4().hex}"
    phone, tablet = await helpers.login(gateway, openid), await helpers.login(gateway, openid)
    assert phone["person_id"] == tablet["person_id"]

    # Someone else's refresh token ends nothing of theirs.
    stranger = await helpers.login(gateway)
    foreign = await gateway.post(
        "/api/v1/auth/sign-out", headers=_bearer(stranger), json={"refresh_token": phone["refresh_token"]}
    )
    assert foreign.status_code == 200 and foreign.json() == {"sessions_ended": 0}
    rotated = await refresh(gateway, phone["refresh_token"])
    assert rotated.status_code == 200, "still signed in"

    # Signing out with the newest token of the sign-in ends the whole of it.
    ended = await gateway.post(
        "/api/v1/auth/sign-out", headers=_bearer(phone), json={"refresh_token": rotated.json()["refresh_token"]}
    )
    assert ended.json() == {"sessions_ended": 1}
    assert (await refresh(gateway, rotated.json()["refresh_token"])).json()["type"].endswith("/refresh-rejected")
    assert (await refresh(gateway, tablet["refresh_token"])).status_code == 200, "the other device stays signed in"

    again = await helpers.login(gateway, openid)
    everywhere = await gateway.post("/api/v1/auth/sign-out", headers=_bearer(again), json={"everywhere": True})
    assert everywhere.json()["sessions_ended"] >= 2
    assert (await refresh(gateway, again["refresh_token"])).status_code == 401
    assert (await gateway.post("/api/v1/auth/sign-out", headers=_bearer(again), json={})).status_code == 422
    assert (await gateway.post("/api/v1/auth/sign-out", json={"everywhere": True})).status_code == 401
