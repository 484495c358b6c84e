from pathlib import Path

from pydantic import BaseModel
from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings

_MIGRATIONS = str(Path(__file__).resolve().parent.parent / "migrations")


class SmsTemplate(BaseModel):
    id: str
    params: list[str]


class IdentitySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="IDENTITY_", extra="ignore")

    # Its consumer turns an SOS into responders' alerts: every millisecond is on the life-critical path (ADR 20).
    kafka_fetch_max_wait_ms: int = 50

    DEV_DEFAULTS = (
        "wechat_appid",
        "wechat_secret",
        "tencentcloud_secret_id",
        "tencentcloud_secret_key",
        "sms_app_id",
        "sms_templates",
        "pii_keys",
        "pii_lookup_key",
        "key_encryption_key",
    )
    PROVIDER_URLS = ("wechat_base_url", "sms_base_url", "real_name_authority_url")

    service_name: str = "identity"
    port: int = 8001
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5433/identity"
    migrations_path: str = _MIGRATIONS

    # WeChat code2session provider; the dev stack and tests point this at the fake WeChat server.
    wechat_base_url: str = "https://api.weixin.qq.com"
    wechat_appid: str = "wx-dev-appid"
    wechat_secret: str = "wx-dev-secret"
    wechat_timeout_s: float = 3.0
    # Subscription-message templates (订阅消息) by our template name -> the template id WeChat assigned; a
    # template's fields are named as the services send them (item, time, status, note).
    wechat_templates: dict[str, str] = {
        "request_reviewed": "tmpl-request-reviewed",
        "request_booked": "tmpl-request-booked",
        "service_started": "tmpl-service-started",
        "service_finished": "tmpl-service-finished",
        "booking_cancelled": "tmpl-booking-cancelled",
        "incident_alert": "tmpl-incident-alert",
    }
    # Tencent Cloud API credentials (one CAM key for SMS and FaceID), used through Tencent's SDK (TC3 signing).
    tencentcloud_secret_id: str = "AKIDdevtimebank"
    tencentcloud_secret_key: str = "dev-tencentcloud-secret-key"
    # SMS (Tencent Cloud SMS, SendSms) for urgent notifications WeChat cannot deliver and for phone codes.
    sms_base_url: str = "https://sms.tencentcloudapi.com"
    sms_region: str = "ap-beijing"
    sms_app_id: str = "1400000000"  # SmsSdkAppId
    sms_sign_name: str = "北京时间银行"
    # Our template name -> the template id Tencent approved and the data fields filling its {1}, {2}, … in order.
    sms_templates: dict[str, SmsTemplate] = {
        "incident_alert": SmsTemplate(id="2300001", params=["time", "status"]),
        "phone_verification": SmsTemplate(id="2300002", params=["code", "minutes"]),
    }
    # Real-name verification of name and 居民身份证号 against the authority (Tencent Cloud FaceID
    # IdCardVerification), after the number's own checksum.
    real_name_authority_url: str = "https://faceid.tencentcloudapi.com"
    real_name_authority_timeout_s: float = 5.0
    # Contact phones are proven with a code sent to them: how long it lasts, how many tries, how often resent.
    phone_code_ttl_s: int = 600
    phone_code_max_attempts: int = 5
    phone_code_resend_s: int = 60
    sms_timeout_s: float = 3.0
    notification_interval_s: float = 0.5
    notification_max_attempts: int = 8

    access_token_ttl_s: int = 900
    role_lapse_interval_s: float = 60.0
    # How often identity looks for people who turned 18 or 60 today (in Beijing) and tells the other services.
    age_facts_interval_s: float = 3600.0
    refresh_token_ttl_s: int = 30 * 24 * 3600
    # Closing an account: the days to change one's mind before the personal data is erased (冷静期), and how
    # often identity looks for closures that are due.
    closure_cooling_off_days: int = 7
    closure_interval_s: float = 60.0
    # Staff sign-in: this many wrong passwords in a row lock the account for lockout_minutes.
    lockout_threshold: int = 5
    lockout_minutes: int = 15
    # 32 bytes, urlsafe base64: encrypts private signing keys at rest. Set a real one in production.
    # Personal data at rest: AES-GCM keys by id (JSON {"id": "urlsafe-b64 32 bytes"}); new data uses the
    # active one, old data stays readable under its own id until re-encrypted. Set real keys in production.
    pii_keys: dict[str, str] = {"dev-1": "ZGV2LW9ubHktcGVyc29uYWwtZGF0YS1rZXktMzJiISE="}
    pii_active_key: str = "dev-1"
    # HMAC key for finding a record by identity number without decrypting anything.
    pii_lookup_key: str = "ZGV2LW9ubHktbG9va3VwLWhtYWMta2V5LTMyYnl0ZXM="
    key_encryption_key: str = "ZGV2LW9ubHkta2V5LWVuY3J5cHRpb24ta2V5LTMyYiE="
