"""Refresh-token rotation, and reuse detection that ends the whole sign-in."""


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
    assert await sql["identity"].scalar("SELECT count(*) FROM refresh_tokens WHERE subject = :s AND revoked_at IS NULL",
                                        s=login["person_id"]) == 0
    assert not await sql["identity"].scalar("SELECT bool_or(position(:t in encode(token_hash, 'escape')) > 0) "
                                            "FROM refresh_tokens", t=rotated["refresh_token"])


async def test_staff_refresh_carries_current_roles_and_unknown_tokens_are_refused(gateway):
    staff = (await gateway.post("/api/v1/auth/token", data={"grant_type": "password", "username": "officer-110101",
                                                            "password": "demo-password-2026"})).json()
    rotated = await refresh(gateway, staff["refresh_token"])
    me = await gateway.get("/api/v1/me", headers={"Authorization": f"Bearer {rotated.json()['access_token']}"})
    assert me.json()["roles"] == ["district_officer"] and me.json()["district"] == "110101"
    unknown = await refresh(gateway, "x" * 43)
    assert unknown.status_code == 401 and unknown.json()["error"] == "invalid_grant"
    assert (await gateway.post("/api/v1/auth/refresh", json={})).status_code == 422
