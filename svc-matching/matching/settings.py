from pathlib import Path

from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings

_MIGRATIONS = str(Path(__file__).resolve().parent.parent / "migrations")


class MatchingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MATCHING_", extra="ignore")

    service_name: str = "matching"
    port: int = 8003
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5433/matching"
    migrations_path: str = _MIGRATIONS
