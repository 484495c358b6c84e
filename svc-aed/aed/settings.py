from pathlib import Path

from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings

_MIGRATIONS = str(Path(__file__).resolve().parent.parent / "migrations")


class AedSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AED_", extra="ignore")

    service_name: str = "aed"
    port: int = 8004
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5433/aed"
    migrations_path: str = _MIGRATIONS
