"""Operator CLI: `python -m aed serve|migrate|dlq-replay|outbox-republish`."""

import sys

from aed.events import consumers
from aed.settings import AedSettings
from servicekit.cli import run_cli


def main() -> int:
    return run_cli(settings=AedSettings(), app_factory="aed.main:create_app", consumers=consumers)


if __name__ == "__main__":
    sys.exit(main())
