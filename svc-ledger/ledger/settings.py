from pathlib import Path

from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings

_MIGRATIONS = str(Path(__file__).resolve().parent.parent / "migrations")


class LedgerSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGER_", extra="ignore")

    # A person publishing a need waits for its hold (matching → ledger → matching; ADR 20).
    kafka_fetch_max_wait_ms: int = 200

    service_name: str = "ledger"
    port: int = 8002
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5433/ledger"
    migrations_path: str = _MIGRATIONS
    # A hold lives until the booked window ends plus this grace, then expires and releases its coins.
    hold_grace_hours: int = 168
    hold_expiry_interval_s: float = 60.0
    # How often coins that reached closed accounts after their closure are moved by their rule.
    closure_sweep_interval_s: float = 60.0
    # Settlement applies a whole poll in one transaction with a fixed number of statements: bigger polls
    # spread each commit over more services (bench.ledger: 2,000 settle 1.08 × pgbench's rate, 500 0.92).
    consumer_batch_size: int = 2000
    # Under steady load the relay waits this long after a partial round, so one produce request carries many
    # commits' events (bench.ledger: gifts 0.24 × pgbench's rate with 50 ms, 0.19 without). The ledger's
    # events feed projections and notifications, which can take 50 ms more; svc-aed's relay (SOS alerts) does
    # not linger.
    outbox_linger_s: float = 0.05
    # The gift desk (ledger.desk): gifts per shared transaction at most, and transactions committing at once.
    gift_desk_max_batch: int = 64
    # Four at once: one batch forms while others wait on the log flush (bench.ledger: gifts 0.27 × pgbench's
    # rate, 0.23 with 2 or 8).
    gift_desk_in_flight: int = 4
    # The most one grant or welfare allocation may move (minutes; 12,000 = 200 coins).
    grant_limit_minutes: int = 12_000
