from pydantic import Field
from pydantic_settings import SettingsConfigDict

from servicekit.settings import TokenVerificationSettings


class GatewaySettings(TokenVerificationSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"

    identity_url: str = "http://127.0.0.1:8001"
    ledger_url: str = "http://127.0.0.1:8002"
    matching_url: str = "http://127.0.0.1:8003"
    aed_url: str = "http://127.0.0.1:8004"
    audit_url: str = "http://127.0.0.1:8005"

    # Extra or replacement routes, JSON: [{"prefix": "/api/v1/x", "upstream": "ledger"}]
    routes: list[dict[str, str]] = Field(default_factory=list)
    connect_timeout_s: float = 2.0
    # Per-upstream read timeout (seconds), JSON: {"aed": 5}
    upstream_timeouts_s: dict[str, float] = Field(default_factory=dict)
    default_timeout_s: float = 15.0
    max_connections: int = 200
    # The largest request body passed on (413 beyond): room for the largest AED import (5,000 rows).
    max_body_bytes: int = 10 * 1024 * 1024

    rate_limit_per_ip: str = "600/minute"
    rate_limit_per_principal: str = "300/minute"
    rate_limit_public_lookup: str = "60/minute"
    # Addresses of reverse proxies in front of us whose X-Forwarded-For we believe.
    trusted_proxies: list[str] = Field(default_factory=list)
    openapi_cache_s: float = 30.0
    # The staff console's built files (console/dist), served under /console/; unset serves none.
    console_dir: str | None = None
