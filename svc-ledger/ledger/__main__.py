"""Operator CLI: `python -m ledger serve|migrate|dlq-replay`."""
import sys

from servicekit.app import build_runtime
from servicekit.cli import run_cli
from ledger.events import consumers
from ledger.settings import LedgerSettings


def main() -> int:
    settings = LedgerSettings()
    return run_cli(settings=settings, app_factory="ledger.main:create_app",
                   consumers=lambda: consumers(build_runtime(settings)))


if __name__ == "__main__":
    sys.exit(main())
