from audit.settings import AuditSettings
from servicekit.migrations import run_env

run_env(None, AuditSettings().database_url)
