from aed.settings import AedSettings
from servicekit.migrations import run_env

run_env(None, AedSettings().database_url)
