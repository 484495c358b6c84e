"""Suspension ends every sign-in session at once and refuses new sign-ins until reinstated."""

import base64
import json
import os
import subprocess
import sys
import uuid

from servicekit.events import CloudEvent


def _sub(token: str) -> str:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"]


async def test_a_suspended_person_loses_their_sessions_until_reinstated(gateway, helpers, sql):
    openid = uuid.uuid4().hex
    person = await helpers.login(gateway, openid)
    second_device = await helpers.login(gateway, openid)
    admin = await helpers.staff_headers(gateway, "admin")
    path = f"/api/v1/people/{person['person_id']}/suspension"
    assert (
        await gateway.post(
            path, headers={"Authorization": f"Bearer {person['access_token']}"}, json={"reason": "自行停用"}
        )
    ).status_code == 403
    suspended = await gateway.post(path, headers=admin, json={"reason": "账户疑似被盗用"})
    assert suspended.status_code == 200 and suspended.json()["sessions_revoked"] == 2

    for login in (person, second_device):
        assert (
            await gateway.post("/api/v1/auth/refresh", json={"refresh_token": login["refresh_token"]})
        ).status_code == 401
    refused = await gateway.post("/api/v1/auth/wechat-login", json={"code": f"dev-{openid}"})
    assert refused.status_code == 403 and refused.json()["type"].endswith("/account-suspended")
    [event] = [
        CloudEvent.model_validate_json(p)
        for (p,) in await sql["identity"].rows(
            "SELECT payload FROM outbox WHERE key = :k AND event_type = 'timebank.identity.account.suspended'",
            k=person["person_id"],
        )
    ]
    assert (event.data["reason"], event.data["sessions_revoked"]) == ("账户疑似被盗用", 2)

    assert (await gateway.post(path + "/lift", headers=admin, json={"reason": "已核实本人"})).status_code == 200
    assert (await gateway.post("/api/v1/auth/wechat-login", json={"code": f"dev-{openid}"})).status_code == 200


async def test_a_suspended_staff_member_cannot_sign_in_or_refresh(stack, gateway, helpers):
    username = f"officer-{uuid.uuid4().hex[:8]}"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "identity",
            "create-staff",
            "--username",
            username,
            "--role",
            "district_officer",
            "--district",
            "110108",
            "--password",
            "suspend-me-2026",
        ],
        env={**os.environ, **stack.service_env("identity")},
        check=True,
        capture_output=True,
    )
    signed_in = await gateway.post(
        "/api/v1/auth/token", data={"grant_type": "password", "username": username, "password": "suspend-me-2026"}
    )
    staff_id = _sub(signed_in.json()["access_token"])
    admin = await helpers.staff_headers(gateway, "admin")
    admin_id = _sub(admin["Authorization"].split()[1])
    assert (
        await gateway.post(f"/api/v1/staff/{admin_id}/suspension", headers=admin, json={"reason": "测试自停"})
    ).status_code == 403
    assert (
        await gateway.post(f"/api/v1/staff/{staff_id}/suspension", headers=admin, json={"reason": "调离岗位"})
    ).json()["sessions_revoked"] == 1
    assert (
        await gateway.post("/api/v1/auth/refresh", json={"refresh_token": signed_in.json()["refresh_token"]})
    ).status_code == 401
    again = await gateway.post(
        "/api/v1/auth/token", data={"grant_type": "password", "username": username, "password": "suspend-me-2026"}
    )
    assert again.status_code == 400
    lifted = await gateway.post(
        f"/api/v1/staff/{staff_id}/suspension/lift", headers=admin, json={"reason": "恢复原岗位"}
    )
    assert lifted.status_code == 200, lifted.text
    back = await gateway.post(
        "/api/v1/auth/token", data={"grant_type": "password", "username": username, "password": "suspend-me-2026"}
    )
    assert back.status_code == 200
