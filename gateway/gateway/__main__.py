"""`python -m gateway serve`."""

import argparse
import sys
from typing import Any

import uvicorn

from gateway.settings import GatewaySettings
from servicekit.serving import UVICORN_OPTIONS


def serving_options(settings: GatewaySettings) -> dict[str, Any]:
    """How uvicorn serves the gateway, here and in the tests that reach it over the wire: as every service is
    (`servicekit.serving`), on the gateway's own address."""
    return {"host": settings.host, "port": settings.port, **UVICORN_OPTIONS}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway")
    parser.add_argument("command", choices=["serve"])
    parser.parse_args()
    uvicorn.run("gateway.main:create_app", factory=True, **serving_options(GatewaySettings()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
