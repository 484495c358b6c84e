from pathlib import Path

from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings

_MIGRATIONS = str(Path(__file__).resolve().parent.parent / "migrations")


class LedgerSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGER_", extra="ignore")

    service_name: str = "ledger"
    port: int = 8002
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5433/ledger"
    migrations_path: str = _MIGRATIONS
    # A hold lives until the booked window ends plus this grace, then expires and releases its coins.
    hold_grace_hours: int = 168
    hold_expiry_interval_s: float = 60.0
    # Settlement applies a whole poll in one transaction with a fixed number of statements: bigger polls
    # spread each commit over more services (bench.ledger: 2,000 read 1.08 × pgbench, 1,000 1.02, 500 0.92).
    consumer_batch_size: int = 2000
    # The gift desk (ledger.desk): gifts per shared transaction at most, and transactions committing at once.
    gift_desk_max_batch: int = 64
    gift_desk_in_flight: int = 2
    # The most one grant or welfare allocation may move (minutes; 12,000 = 200 coins).
    grant_limit_minutes: int = 12_000
