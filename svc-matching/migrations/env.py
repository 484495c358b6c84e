from matching.settings import MatchingSettings
from servicekit.migrations import run_env

run_env(None, MatchingSettings().database_url)
