"""The operator CLI, run as operators run it, against the running stack's identity database."""

import os
import subprocess
import sys
import uuid


def cli(stack, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "identity", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **stack.service_env("identity")},
    )


async def test_created_staff_user_can_sign_in_with_the_roles_given(stack, gateway):
    username = f"officer-{uuid.uuid4().hex[:6]}"
    result = cli(
        stack,
        "create-staff",
        "--username",
        username,
        "--role",
        "district_officer",
        "--district",
        "110108",
        "--password",
        "a-long-password-1",
    )
    assert result.returncode == 0, result.stderr
    token = await gateway.post(
        "/api/v1/auth/token", data={"grant_type": "password", "username": username, "password": "a-long-password-1"}
    )
    me = (await gateway.get("/api/v1/me", headers={"Authorization": f"Bearer {token.json()['access_token']}"})).json()
    assert me["roles"] == ["district_officer"] and me["district"] == "110108"

    again = cli(stack, "create-staff", "--username", username, "--role", "auditor", "--password", "a-long-password-1")
    assert again.returncode == 2 and "already exists" in again.stderr


def test_staff_rules_are_enforced_by_the_cli(stack):
    no_district = cli(
        stack,
        "create-staff",
        "--username",
        f"x-{uuid.uuid4().hex[:6]}",
        "--role",
        "district_officer",
        "--password",
        "a-long-password-1",
    )
    assert no_district.returncode == 2 and "district" in no_district.stderr
    short = cli(
        stack, "create-staff", "--username", f"x-{uuid.uuid4().hex[:6]}", "--role", "auditor", "--password", "short"
    )
    assert short.returncode == 2 and "12 characters" in short.stderr


async def test_created_partner_gets_a_secret_shown_once_that_works(stack, gateway):
    client_id = f"partner-{uuid.uuid4().hex[:6]}"
    result = cli(stack, "create-partner", "--client-id", client_id, "--name", "120 test", "--scope", "emergency-120")
    assert result.returncode == 0, result.stderr
    secret = next(
        line.split("=", 1)[1].split()[0] for line in result.stdout.splitlines() if line.startswith("client_secret=")
    )
    token = await gateway.post(
        "/api/v1/auth/token", data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    )
    assert token.status_code == 200
    wrong_scope = await gateway.post(
        "/api/v1/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            "scope": "volunteer-beijing",
        },
    )
    assert wrong_scope.status_code == 400 and wrong_scope.json()["error"] == "invalid_scope"
    wrong_secret = await gateway.post(
        "/api/v1/auth/token", data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": "nope"}
    )
    assert wrong_secret.status_code == 401 and wrong_secret.json()["error"] == "invalid_client"


async def test_repeated_wrong_passwords_lock_the_account_even_against_the_right_one(stack, gateway):
    username = f"locked-{uuid.uuid4().hex[:6]}"
    assert (
        cli(
            stack, "create-staff", "--username", username, "--role", "auditor", "--password", "the-right-password"
        ).returncode
        == 0
    )

    def sign_in(password: str):
        return gateway.post(
            "/api/v1/auth/token", data={"grant_type": "password", "username": username, "password": password}
        )

    # Two wrong ones, then the right one resets the count …
    for _ in range(2):
        assert (await sign_in("wrong-password-x")).json()["type"].endswith("/invalid-grant")
    assert (await sign_in("the-right-password")).status_code == 200
    # … so it takes five more in a row to lock (the default threshold).
    for _ in range(5):
        assert (await sign_in("wrong-password-x")).json()["type"].endswith("/invalid-grant")
    locked = await sign_in("the-right-password")
    assert locked.status_code == 400 and locked.json()["type"].endswith("/account-locked")
    assert locked.json()["error"] == "invalid_grant" and locked.json()["locked_until"]


async def test_key_rotation_keeps_old_tokens_valid_and_signs_new_ones_with_the_new_key(stack, gateway, helpers):
    import jwt

    before = await helpers.login(gateway)
    old_kid = jwt.get_unverified_header(before["access_token"])["kid"]
    result = cli(stack, "rotate-signing-key")
    assert result.returncode == 0 and f"{old_kid} retired" in result.stdout

    after = await helpers.login(gateway)
    new_kid = jwt.get_unverified_header(after["access_token"])["kid"]
    assert new_kid != old_kid
    kids = {key["kid"] for key in (await gateway.get("/.well-known/jwks.json")).json()["keys"]}
    assert {old_kid, new_kid} <= kids
    for login in (before, after):  # the gateway and the service learn the new kid on first sight
        response = await gateway.get("/api/v1/me", headers={"Authorization": f"Bearer {login['access_token']}"})
        assert response.status_code == 200, response.text
