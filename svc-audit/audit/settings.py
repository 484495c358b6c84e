from pathlib import Path

from pydantic import BaseModel
from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings

_MIGRATIONS = str(Path(__file__).resolve().parent.parent / "migrations")


class RuleThresholds(BaseModel):
    """The fraud rules' thresholds; any of them may be overridden per district (`AUDIT_DISTRICT_OVERRIDES`)."""

    # 高频双向服务: A serves B and B serves A, at least this many services between them within the window.
    two_way_window_days: int = 30
    two_way_min_services: int = 4
    # 异常深夜服务: sign-in or sign-out in [night_starts_hour, night_ends_hour) Beijing time.
    night_starts_hour: int = 22
    night_ends_hour: int = 6
    # Whether a documented late-night item (e.g. night care) is legitimate in the district.
    allow_documented_night_items: bool = False
    # 时间币频繁赠予: more than this many gifts, or more than this many minutes, by or to one account.
    gift_window_days: int = 7
    gift_max_count: int = 4
    gift_max_minutes: int = 6000
    # Gift chains: A → B then B → C within this many hours.
    gift_chain_hours: int = 48
    # Sign-in/out this far from the place or farther (matching refuses beyond its own radius: this catches
    # records that keep landing just inside it).
    far_distance_m: int = 250
    # Implausible durations: shorter than this many minutes, or a sign-in to sign-out span longer than this.
    min_service_minutes: int = 10
    max_span_hours: int = 10
    # Repeats that raise an alert's severity one step.
    escalate_after: int = 3


class AuditSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AUDIT_", extra="ignore")

    DEV_DEFAULTS = ("checkpoint_keys",)

    service_name: str = "audit"
    port: int = 8005
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5433/audit"
    migrations_path: str = _MIGRATIONS

    # Every event of the system passes through audit: bigger polls amortise each transaction's commit (WAL
    # flush) and the chain lock over more events.
    consumer_batch_size: int = 5000
    # New container objects between collections of the youngest generation (CPython's default: 700); see
    # audit.events.collect_less_often.
    gc_young_threshold: int = 50_000

    # The rules follow the trail (judging.py): at most this many trail records judged per transaction.
    judge_max_records: int = 20_000

    rules: RuleThresholds = RuleThresholds()
    # district code -> thresholds that differ there, e.g. {"110105": {"allow_documented_night_items": true}}
    district_overrides: dict[str, dict] = {}
    # A signed checkpoint of the chain's head after every this many records.
    checkpoint_every: int = 1000
    # HMAC key (urlsafe base64, 32 bytes) signing checkpoints; keep it outside the database. Set a real one in production.
    checkpoint_keys: dict[str, str] = {"dev-1": "ZGV2LW9ubHktYXVkaXQtY2hlY2twb2ludC1rZXkhISE="}
    checkpoint_active_key: str = "dev-1"

    def thresholds(self, district: str | None) -> RuleThresholds:
        overrides = self.district_overrides.get(district or "", {})
        return self.rules.model_copy(update=overrides) if overrides else self.rules

    def district_thresholds(self) -> dict[str, RuleThresholds]:
        """The thresholds of every district with overrides."""
        return {district: self.thresholds(district) for district in self.district_overrides}
