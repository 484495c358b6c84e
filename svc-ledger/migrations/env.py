from ledger.db.models import Base
from ledger.settings import LedgerSettings
from servicekit.migrations import run_env

run_env(Base.metadata, LedgerSettings().database_url)
