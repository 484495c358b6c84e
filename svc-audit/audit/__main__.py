"""Operator CLI: `python -m audit serve|migrate|dlq-replay`."""
import sys

from servicekit.cli import run_cli
from audit.settings import AuditSettings


def main() -> int:
    return run_cli(settings=AuditSettings(), app_factory="audit.main:create_app")


if __name__ == "__main__":
    sys.exit(main())
