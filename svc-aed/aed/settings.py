from datetime import date
from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings

_MIGRATIONS = str(Path(__file__).resolve().parent.parent / "migrations")

# Resident population by district (第七次全国人口普查, 2020), for devices per 1,000 people.
DISTRICT_POPULATION = {
    "110101": 708_829,
    "110102": 1_106_214,
    "110105": 3_452_460,
    "110106": 2_019_764,
    "110107": 567_851,
    "110108": 3_133_469,
    "110109": 392_606,
    "110111": 1_312_778,
    "110112": 1_840_295,
    "110113": 1_324_044,
    "110114": 2_269_487,
    "110115": 1_993_591,
    "110116": 441_040,
    "110117": 457_313,
    "110118": 527_683,
    "110119": 345_671,
}


class AedSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AED_", extra="ignore")

    DEV_DEFAULTS = ("dispatch_webhook_secret",)
    PROVIDER_URLS = ("dispatch_webhook_url",)

    service_name: str = "aed"
    port: int = 8004
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5433/aed"
    migrations_path: str = _MIGRATIONS

    # Public lookup: how far to look at most, and how many devices by default.
    lookup_max_radius_m: int = 5000
    lookup_default_limit: int = 5
    # Consumables announced this many days before they expire (once per expiry date).
    expiry_warning_days: int = 30
    upkeep_interval_s: float = 3600.0
    # Coverage standard: devices per 1,000 people.
    coverage_standard_per_1000: float = 2.0
    district_population: dict[str, int] = DISTRICT_POPULATION
    # Incidents (网约式急救): how far to look for responders and devices (published systems use 0.5-1.8 km),
    # how many responders an incident needs, how many are alerted at once, and how long a wave waits.
    incident_radius_m: int = 1000
    responders_needed: int = 4
    wave_size: int = 3
    wave_interval_s: float = 30.0
    waves_check_interval_s: float = 1.0
    # Responders on duty: a position not refreshed for this long is dropped.
    duty_ttl_s: int = 600
    # Accepting responders sent for an AED first, at most this many, when responder → AED → patient is short and
    # adds little to their way. Chosen with the needed count by the rescue simulation (`make sim`, ADR 19).
    max_fetchers: int = 2
    fetch_max_path_m: int = 1500
    fetch_max_detour_m: int = 600
    # Estimated arrival: a responder hurrying on foot, streets longer than a straight line, and the time to take
    # an AED from its cabinet (the rescue simulation walks at the same pace; ADR 19).
    responder_speed_m_s: float = 2.0
    street_detour: float = 1.4
    retrieve_s: float = 45.0
    # An alert WeChat delivered but the responder has not opened this long after goes again by SMS.
    alert_unseen_sms_s: float = 30.0
    # 120's system: every incident and step is POSTed here, in order, retried until acknowledged (2xx).
    dispatch_webhook_url: str | None = None
    # Signs every request to 120 (HMAC-SHA256; aed.domain.dispatch): shared with 120, one per partner link.
    dispatch_webhook_secret: str = "dev-only-120-webhook-secret"
    dispatch_timeout_s: float = 3.0
    dispatch_interval_s: float = 0.2
    dispatch_max_backoff_s: float = 30.0
    # Incidents whose updates are out with 120 at once; each waits for its own answer, none for another's.
    dispatch_in_flight: int = Field(default=8, ge=1)

    # Public holidays (法定节假日) in Beijing time, from the State Council's yearly notice: devices marked
    # "PH off" are closed on them. Keep the list current in production.
    public_holidays: list[date] = [
        date(2026, 1, 1),
        date(2026, 1, 2),
        date(2026, 1, 3),
        *[date(2026, 2, d) for d in range(15, 24)],
        date(2026, 4, 4),
        date(2026, 4, 5),
        date(2026, 4, 6),
        *[date(2026, 5, d) for d in range(1, 6)],
        date(2026, 6, 19),
        date(2026, 6, 20),
        date(2026, 6, 21),
        date(2026, 9, 25),
        date(2026, 9, 26),
        date(2026, 9, 27),
        *[date(2026, 10, d) for d in range(1, 8)],
        date(2027, 1, 1),
    ]

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        if not self.dispatch_webhook_url:  # the link to 120 is off: nothing is signed with the secret
            problems = [p for p in problems if not p.startswith(self.env_name("dispatch_webhook_secret"))]
        return problems
