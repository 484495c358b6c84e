from identity.db.models import Base
from identity.settings import IdentitySettings
from servicekit.migrations import run_env

run_env(Base.metadata, IdentitySettings().database_url)
