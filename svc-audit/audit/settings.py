from pathlib import Path

from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings

_MIGRATIONS = str(Path(__file__).resolve().parent.parent / "migrations")


class AuditSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AUDIT_", extra="ignore")

    service_name: str = "audit"
    port: int = 8005
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5433/audit"
    migrations_path: str = _MIGRATIONS
