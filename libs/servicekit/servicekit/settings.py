"""Settings shared by every service; each service subclasses with its own env prefix (IDENTITY_, LEDGER_ …)."""

from __future__ import annotations

import ipaddress
from typing import ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class TokenVerificationSettings(BaseSettings):
    """What a token verifier needs: shared by the services and the gateway."""

    model_config = SettingsConfigDict(extra="ignore")

    jwks_url: str = "http://127.0.0.1:8001/.well-known/jwks.json"
    jwt_issuer: str = "timebank-identity"
    jwt_audience: str = "timebank"
    jwks_min_refresh_interval_s: float = 5.0
    jwks_cache_ttl_s: float = 300.0


class ServiceSettings(TokenVerificationSettings):
    # `TIMEBANK_ENV`, one name for every service: outside "dev" a service refuses to run on anything the
    # repository ships for development (`production_problems`).
    environment: Literal["dev", "production"] = Field(
        default="dev", validation_alias=AliasChoices("TIMEBANK_ENV", "environment")
    )
    # Settings whose defaults are development values published with the code (secrets, which are then no
    # secret, and placeholders) that production must replace; and the settings naming an outside provider.
    DEV_DEFAULTS: ClassVar[tuple[str, ...]] = ()
    PROVIDER_URLS: ClassVar[tuple[str, ...]] = ()

    service_name: str = "service"
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    # The largest request body a handler sees (413 beyond); the gateway has the same limit in front.
    max_body_bytes: int = 10 * 1024 * 1024
    # HTTP worker processes. Each runs its own relay and consumers (they share the work as replicas do).
    workers: int = 1

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5433/service"
    database_pool_size: int = 10
    migrate_on_start: bool = False

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    # Tansu 0.6 lacks InitProducerId; exactly-once effects come from outbox + inbox anyway.
    kafka_enable_idempotence: bool = False
    kafka_request_timeout_ms: int = 5000
    kafka_max_batch_bytes: int = 524288  # per-partition produce batch; the relay fills it from one claim
    kafka_session_timeout_ms: int = 2000
    kafka_heartbeat_interval_ms: int = 300
    # How long a fetch may wait at the broker for data. Tansu holds a fetch for the whole wait even when data
    # arrives meanwhile, so the wait is also the longest delay before a consumer sees a new event, and an idle
    # consumer asks 1000/wait times a second. Services a person waits on choose less (ADR 20).
    kafka_fetch_max_wait_ms: int = 500
    # How often each consumer counts the dead letters waiting for a replay (the consumer_dead_letters_waiting gauge).
    consumer_dlq_check_interval_s: float = 30.0
    topic_partitions: int = 3
    topic_replication_factor: int = 1

    outbox_batch_size: int = 500
    # After a round that published less than a full claim, wait this long before the next (0: at once).
    outbox_linger_s: float = 0.0
    outbox_poll_interval_s: float = 0.5
    outbox_max_backoff_s: float = 30.0
    outbox_retention_hours: int = 72
    # How often (at most) the relay checks that the broker's log still holds what it acknowledged; it also checks
    # before publishing after any failure.
    outbox_log_check_interval_s: float = 1.0

    consumer_batch_size: int = 1000  # events applied per transaction at most
    consumer_max_retries: int = 3
    consumer_retry_backoff_s: float = 0.2

    # Development and tests only: a file holding seconds to add to the real time (servicekit.clock). Unset in
    # production, where the clock is the system's.
    clock_file: str | None = None

    # Where the service's Alembic scripts live; set by the service's Settings subclass.
    migrations_path: str = Field(default="", description="Alembic script_location")

    @property
    def own_topic(self) -> str:
        return f"{self.service_name}.events"

    def env_name(self, field: str) -> str:
        prefix = self.model_config.get("env_prefix", "")
        return f"{prefix}{field}".upper()

    def production_problems(self) -> list[str]:
        """What makes these settings unfit outside development: a development secret (any of its values among
        the defaults the repository ships), a provider address that is a placeholder or this machine, a test
        clock. Empty in "dev"."""
        if self.environment == "dev":
            return []
        problems = []
        for name in self.DEV_DEFAULTS:
            shipped = _values(type(self).model_fields[name].default)
            if shipped & _values(getattr(self, name)):
                problems.append(f"{self.env_name(name)} holds the development value published with the code")
        for name in self.PROVIDER_URLS:
            url = getattr(self, name)
            if url is not None and _placeholder_or_local(url):
                problems.append(f"{self.env_name(name)} ({url}) is a placeholder or this machine, not the provider")
        if self.clock_file is not None:
            problems.append(f"{self.env_name('clock_file')} moves the clock: for tests only")
        return problems


def _values(setting: object) -> set[str]:
    """The secret material in a setting: a string, or the values of a {key id: key} map."""
    if isinstance(setting, dict):
        return {str(v) for v in setting.values()}
    return {str(setting)} if setting else set()


def _placeholder_or_local(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    if host in ("", "localhost") or host.endswith((".invalid", ".example", ".test", ".localhost")):
        return True
    if host == "example.com" or host.endswith(".example.com"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
