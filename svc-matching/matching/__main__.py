"""Operator CLI: `python -m matching serve|migrate|dlq-replay`."""
import sys

from servicekit.cli import run_cli
from matching.settings import MatchingSettings


def main() -> int:
    return run_cli(settings=MatchingSettings(), app_factory="matching.main:create_app")


if __name__ == "__main__":
    sys.exit(main())
