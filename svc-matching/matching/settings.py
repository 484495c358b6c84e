from pathlib import Path

from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings

_MIGRATIONS = str(Path(__file__).resolve().parent.parent / "migrations")


class MatchingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MATCHING_", extra="ignore")

    # A person publishing a need waits for the ledger's answer to its hold (ADR 20).
    kafka_fetch_max_wait_ms: int = 200

    DEV_DEFAULTS = ("pii_keys", "evidence_signing_seed")

    service_name: str = "matching"
    port: int = 8003
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5433/matching"
    migrations_path: str = _MIGRATIONS

    # Publishing: how far ahead a window may start, and the longest window (an item may set a shorter one).
    max_days_ahead: int = 90
    max_window_minutes: int = 480
    # Search.
    default_radius_m: int = 3000
    max_radius_m: int = 20_000
    search_limit: int = 20
    # Sign-in/out (签到/签出): distance from the place, and tolerance around the booked window.
    attendance_radius_m: int = 300
    check_in_early_minutes: int = 30
    check_out_late_minutes: int = 60
    # A booked volunteer not signed in this long after the start is a no-show.
    no_show_after_minutes: int = 45
    # Cancelling a booked service with less notice than this is recorded as a late cancellation.
    late_cancellation_hours: int = 2
    # Ratings at or below this are flagged to the district.
    low_rating_threshold: int = 2
    lifecycle_interval_s: float = 30.0

    # Personal data at rest (addresses): AES-GCM keys, urlsafe base64 of 32 bytes. Set real keys in production.
    pii_keys: dict[str, str] = {"dev-1": "ZGV2LW9ubHktbWF0Y2hpbmctYWRkcmVzcy1rZXkhISE="}
    pii_active_key: str = "dev-1"
    # Ed25519 seed (urlsafe base64 of 32 bytes) signing claim evidence for 志愿北京. Set a real one in production.
    evidence_signing_seed: str = "ZGV2LW9ubHktZXZpZGVuY2Utc2lnbmluZy1zZWVkISE="
    evidence_key_id: str = "matching-evidence-dev-1"
