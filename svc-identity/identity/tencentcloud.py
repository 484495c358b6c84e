"""Identity's two Tencent Cloud providers, through Tencent's own async SDK (TC3-HMAC-SHA256 request signing, its
error model): SMS `SendSms` and the real-name authority FaceID `IdCardVerification`. Each endpoint is
configuration: the dev stack and tests point both at a fake that speaks the same API and checks the signatures
(devstack.fakes.tencentcloud)."""

from __future__ import annotations

import enum
import logging
from urllib.parse import urlsplit

import httpx
from tencentcloud.common.credential import Credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.faceid.v20180301 import faceid_client_async
from tencentcloud.faceid.v20180301 import models as faceid
from tencentcloud.sms.v20210111 import models as sms
from tencentcloud.sms.v20210111 import sms_client_async

from identity.settings import IdentitySettings

log = logging.getLogger(__name__)


def _profile(url: str, timeout_s: float) -> ClientProfile:
    parts = urlsplit(url)
    return ClientProfile(
        signMethod="TC3-HMAC-SHA256",
        httpProfile=HttpProfile(protocol=parts.scheme, endpoint=parts.netloc, reqTimeout=timeout_s),
    )


def _credential(settings: IdentitySettings) -> Credential:
    return Credential(settings.tencentcloud_secret_id, settings.tencentcloud_secret_key)


class SmsError(Exception):
    """The SMS provider refused the text or could not be reached."""


class SmsClient:
    """Texts a template with its fields, to a mainland number (+86 added when missing)."""

    def __init__(self, settings: IdentitySettings) -> None:
        self.settings = settings
        self._client = sms_client_async.SmsClient(
            _credential(settings), settings.sms_region, _profile(settings.sms_base_url, settings.sms_timeout_s)
        )

    async def send(self, *, phone: str, template: str, params: dict[str, str]) -> None:
        spec = self.settings.sms_templates.get(template)
        if spec is None:
            raise SmsError(f"no SMS template for {template}")
        request = sms.SendSmsRequest()
        request.PhoneNumberSet = [phone if phone.startswith("+") else f"+86{phone}"]
        request.SmsSdkAppId = self.settings.sms_app_id
        request.SignName = self.settings.sms_sign_name
        request.TemplateId = spec.id
        request.TemplateParamSet = [str(params.get(name, "")) for name in spec.params]
        try:
            response = await self._client.SendSms(request)
        except TencentCloudSDKException as exc:
            raise SmsError(f"SMS refused: {exc.get_code()}: {exc.get_message()}") from None
        except httpx.HTTPError as exc:
            raise SmsError(f"SMS provider unreachable: {exc!r}") from None
        statuses = response.SendStatusSet or []
        if not statuses or statuses[0].Code != "Ok":
            detail = f"{statuses[0].Code}: {statuses[0].Message}" if statuses else "no status"
            raise SmsError(f"SMS refused for the number: {detail}")

    async def close(self) -> None:
        await self._client.close()


class Verdict(enum.Enum):
    MATCH = "0"  # 姓名和身份证号一致
    MISMATCH = "-1"  # 姓名和身份证号不一致
    NO_RECORD = "-5"  # 证件库中无此身份证记录
    UNAVAILABLE = "unavailable"  # the authority or the way to it is down (-4, -6, -7, errors): try again later


class RealNameAuthority:
    """Asks the authority whether a name and a 居民身份证号 belong together."""

    def __init__(self, settings: IdentitySettings) -> None:
        self._client = faceid_client_async.FaceidClient(
            _credential(settings),
            "",
            _profile(settings.real_name_authority_url, settings.real_name_authority_timeout_s),
        )

    async def check(self, *, name: str, id_number: str) -> Verdict:
        request = faceid.IdCardVerificationRequest()
        request.IdCard = id_number
        request.Name = name
        try:
            response = await self._client.IdCardVerification(request)
        except (TencentCloudSDKException, httpx.HTTPError) as exc:
            log.warning("real-name authority unreachable or refusing", extra={"error": repr(exc)})
            return Verdict.UNAVAILABLE
        try:
            return Verdict(response.Result)
        except ValueError:
            log.warning("real-name authority could not answer", extra={"result": response.Result})
            return Verdict.UNAVAILABLE

    async def close(self) -> None:
        await self._client.close()
