"""A fake of Tencent Cloud's API (`POST /`, JSON, TC3-HMAC-SHA256 signed) for the two actions identity calls
through Tencent's own SDK: SMS `SendSms` (2021-01-11) and FaceID `IdCardVerification` (2018-03-01).

Like the real endpoint it refuses a request whose signature does not verify (recomputed here from the
documented algorithm, not from the SDK), whose timestamp is more than five minutes off, whose credential scope
names another product or date, or whose secret id is unknown — answering HTTP 200 with `Response.Error`, as
Tencent Cloud does.

The authority behind IdCardVerification is a register of residents: a number registered (`POST
/_fake/faceid/residents`) matches only its registered name; a number never registered matches any name (so every
test need not register its people); `POST /_fake/faceid/outage` makes the authority answer -4 until turned off.
`GET /_fake/sms?phone=` lists the texts sent; `GET /_fake/faceid/checks` the verifications asked for.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import itertools
import json
import time
import uuid
from datetime import UTC, datetime

from fastapi import Body, FastAPI, Request

from devstack.fakes import serve

ACTIONS = {"SendSms": ("sms", "2021-01-11"), "IdCardVerification": ("faceid", "2018-03-01")}
SKEW_S = 300
FACEID_RESULTS = {
    "0": "姓名和身份证号一致",
    "-1": "姓名和身份证号不一致",
    "-4": "证件库服务异常",
    "-5": "证件库中无此身份证记录",
}


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def tc3_signature(
    secret_key: str, *, service: str, timestamp: str, content_type: str, host: str, body: bytes, query: str = ""
) -> str:
    """Tencent Cloud API 3.0's signature v3 (TC3-HMAC-SHA256) of a POST to `/` signing content-type and host."""
    day = datetime.fromtimestamp(int(timestamp), UTC).strftime("%Y-%m-%d")
    canonical = "\n".join(
        [
            "POST",
            "/",
            query,
            f"content-type:{content_type}\nhost:{host}\n",
            "content-type;host",
            hashlib.sha256(body).hexdigest(),
        ]
    )
    to_sign = "\n".join(
        ["TC3-HMAC-SHA256", timestamp, f"{day}/{service}/tc3_request", hashlib.sha256(canonical.encode()).hexdigest()]
    )
    signing = _hmac(_hmac(_hmac(("TC3" + secret_key).encode(), day), service), "tc3_request")
    return hmac.new(signing, to_sign.encode(), hashlib.sha256).hexdigest()


def create_app(
    secret_id: str = "AKIDdevtimebank", secret_key: str = "dev-tencentcloud-secret-key", sms_app_id: str = "1400000000"
) -> FastAPI:
    app = FastAPI(title="fake Tencent Cloud API (SMS, FaceID)")
    texts: list[dict] = []
    checks: list[dict] = []
    residents: dict[str, str] = {}
    outage = {"on": False}
    serials = itertools.count(1)

    def error(code: str, message: str) -> dict:
        return {"Response": {"Error": {"Code": code, "Message": message}, "RequestId": str(uuid.uuid4())}}

    def refused(request: Request, body: bytes, action: str) -> dict | None:
        """Why the request's signature does not hold, as Tencent Cloud's error; None when it does."""
        if action not in ACTIONS:
            return error("InvalidAction", f"unknown action {action}")
        service, version = ACTIONS[action]
        if request.headers.get("x-tc-version") != version:
            return error("InvalidParameter", f"{action} is version {version}")
        authorization = request.headers.get("authorization", "")
        try:
            algorithm, rest = authorization.split(" ", 1)
            fields = dict(part.strip().split("=", 1) for part in rest.split(","))
            credential_id, day, scope_service, terminator = fields["Credential"].split("/")
        except (ValueError, KeyError):
            return error("AuthFailure.InvalidAuthorization", "malformed Authorization")
        timestamp = request.headers.get("x-tc-timestamp", "0")
        if (
            algorithm != "TC3-HMAC-SHA256"
            or terminator != "tc3_request"
            or fields.get("SignedHeaders") != "content-type;host"
        ):
            return error("AuthFailure.InvalidAuthorization", "not a TC3-HMAC-SHA256 signature of content-type;host")
        if credential_id != secret_id:
            return error("AuthFailure.SecretIdNotFound", "unknown SecretId")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > SKEW_S:
            return error("AuthFailure.SignatureExpire", "the request's timestamp is more than 5 minutes off")
        if scope_service != service or day != datetime.fromtimestamp(int(timestamp), UTC).strftime("%Y-%m-%d"):
            return error("AuthFailure.InvalidAuthorization", "the credential scope names another product or day")
        expected = tc3_signature(
            secret_key,
            service=service,
            timestamp=timestamp,
            content_type=request.headers.get("content-type", ""),
            host=request.headers.get("host", ""),
            body=body,
            query=request.url.query,
        )
        if not hmac.compare_digest(expected, fields.get("Signature", "")):
            return error("AuthFailure.SignatureFailure", "the signature does not match")
        return None

    @app.post("/")
    async def api(request: Request) -> dict:
        body = await request.body()
        action = request.headers.get("x-tc-action", "")
        if (problem := refused(request, body, action)) is not None:
            return problem
        params = json.loads(body or b"{}")
        request_id = str(uuid.uuid4())
        if action == "SendSms":
            if params.get("SmsSdkAppId") != sms_app_id:
                return error("FailedOperation.SmsSdkAppIdVerifyFail", "SmsSdkAppId is not this account's")
            if not params.get("SignName") or not params.get("TemplateId"):
                return error("MissingParameter", "SignName and TemplateId are required")
            statuses = []
            for number in params.get("PhoneNumberSet") or []:
                local = number.removeprefix("+86")
                texts.append(
                    {
                        "phone_number": local,
                        "sign_name": params["SignName"],
                        "template_id": params["TemplateId"],
                        "template_params": list(params.get("TemplateParamSet") or []),
                        "received_at": time.time(),  # before answering: a benchmark stops its clock here
                    }
                )
                serial = f"2640:{next(serials)}"
                statuses.append(
                    {
                        "SerialNo": serial,
                        "PhoneNumber": number,
                        "Fee": 1,
                        "SessionContext": "",
                        "Code": "Ok",
                        "Message": "send success",
                        "IsoCode": "CN",
                    }
                )
            return {"Response": {"SendStatusSet": statuses, "RequestId": request_id}}
        number, name = params.get("IdCard", ""), params.get("Name", "")
        checks.append({"id_card": number, "name": name})
        result = "-4" if outage["on"] else ("0" if residents.get(number, name) == name else "-1")
        return {"Response": {"Result": result, "Description": FACEID_RESULTS[result], "RequestId": request_id}}

    @app.get("/_fake/sms")
    async def listed(phone: str | None = None) -> list[dict]:
        return [text for text in texts if phone is None or text["phone_number"] == phone]

    @app.post("/_fake/faceid/residents")
    async def register(body: dict = Body()) -> dict:
        residents[body["id_card"]] = body["name"]
        return {"registered": body["id_card"]}

    @app.post("/_fake/faceid/outage")
    async def set_outage(body: dict = Body()) -> dict:
        outage["on"] = bool(body.get("on"))
        return outage

    @app.get("/_fake/faceid/checks")
    async def asked(id_card: str | None = None) -> list[dict]:
        return [check for check in checks if id_card is None or check["id_card"] == id_card]

    return app


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--secret-id", default="AKIDdevtimebank")
    parser.add_argument("--secret-key", default="dev-tencentcloud-secret-key")
    parser.add_argument("--sms-app-id", default="1400000000")


def main() -> None:
    serve(lambda args: create_app(args.secret_id, args.secret_key, args.sms_app_id), port=8092, options=_options)


if __name__ == "__main__":
    main()
