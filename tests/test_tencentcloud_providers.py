"""Identity's providers through Tencent Cloud's own SDK (identity.tencentcloud), against a fake that speaks the
same API and verifies the TC3-HMAC-SHA256 signatures by the documented algorithm: SMS `SendSms` and the
real-name authority FaceID `IdCardVerification`. The checksum of a 居民身份证号 stays the first filter."""

from __future__ import annotations

import secrets

import httpx

from devstack import scenario
from devstack.people import resident_number
from devstack.stack import Stack
from identity.settings import IdentitySettings
from identity.tencentcloud import RealNameAuthority, SmsClient, SmsError, Verdict


def _settings(stack: Stack, secret_key: str) -> IdentitySettings:
    return IdentitySettings(
        tencentcloud_secret_key=secret_key,
        sms_base_url=stack.url("tencentcloud"),
        real_name_authority_url=stack.url("tencentcloud"),
    )


async def test_a_request_signed_with_another_key_is_refused_by_the_provider(stack: Stack):
    wrong = _settings(stack, "not-the-key")
    texts = SmsClient(wrong)
    try:
        try:
            await texts.send(phone="13900000000", template="phone_verification", params={"code": "1", "minutes": "10"})
            raise AssertionError("a wrongly signed SMS was accepted")
        except SmsError as refused:
            assert "AuthFailure.SignatureFailure" in str(refused)
    finally:
        await texts.close()
    authority = RealNameAuthority(wrong)
    try:
        assert await authority.check(name="张明", id_number=resident_number(1980)) is Verdict.UNAVAILABLE
    finally:
        await authority.close()
    right = RealNameAuthority(_settings(stack, stack.tencentcloud_secret_key))
    try:
        assert await right.check(name="张明", id_number=resident_number(1980)) is Verdict.MATCH
    finally:
        await right.close()


async def _verify(gateway: httpx.AsyncClient, person: scenario.Person, name: str, number: str) -> httpx.Response:
    return await gateway.post("/api/v1/me/real-name", headers=person.headers, json={"name": name, "id_number": number})


async def test_a_name_that_is_not_the_numbers_is_refused_and_nothing_is_kept(stack: Stack, gateway):
    number = resident_number(1985)
    async with httpx.AsyncClient(base_url=stack.url("tencentcloud")) as authority:
        await authority.post("/_fake/faceid/residents", json={"id_card": number, "name": "赵敏"})
        person = await scenario.sign_in(gateway, f"authority-{secrets.token_hex(6)}")
        refused = await _verify(gateway, person, "周芷若", number)
        assert refused.status_code == 422 and refused.json()["type"].endswith("/real-name-mismatch"), refused.text
        me = (await gateway.get("/api/v1/me", headers=person.headers)).json()
        assert me["real_name"] is None
        accepted = await _verify(gateway, person, "赵敏", number)
        assert accepted.status_code == 200, accepted.text
        asked = (await authority.get("/_fake/faceid/checks", params={"id_card": number})).json()
        assert [check["name"] for check in asked] == ["周芷若", "赵敏"]


async def test_the_authority_down_means_try_again_later(stack: Stack, gateway):
    person = await scenario.sign_in(gateway, f"authority-{secrets.token_hex(6)}")
    number = resident_number(1991)
    async with httpx.AsyncClient(base_url=stack.url("tencentcloud")) as authority:
        await authority.post("/_fake/faceid/outage", json={"on": True})
        try:
            down = await _verify(gateway, person, "张明", number)
        finally:
            await authority.post("/_fake/faceid/outage", json={"on": False})
    assert down.status_code == 503 and down.json()["type"].endswith("/real-name-authority-unavailable"), down.text
    assert (await _verify(gateway, person, "张明", number)).status_code == 200


async def test_a_number_that_fails_its_checksum_never_reaches_the_authority(stack: Stack, gateway):
    person = await scenario.sign_in(gateway, f"authority-{secrets.token_hex(6)}")
    number = resident_number(1975)
    broken = number[:-1] + ("0" if number[-1] != "0" else "1")
    refused = await _verify(gateway, person, "张明", broken)
    assert refused.status_code == 422, refused.text
    async with httpx.AsyncClient(base_url=stack.url("tencentcloud")) as authority:
        assert (await authority.get("/_fake/faceid/checks", params={"id_card": broken})).json() == []
