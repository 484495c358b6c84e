"""`python -m gateway serve`."""

import argparse
import sys
from typing import Any

import uvicorn

from gateway.settings import GatewaySettings


def serving_options(settings: GatewaySettings) -> dict[str, Any]:
    """How uvicorn serves the gateway, here and in the tests that reach it over the wire.

    `proxy_headers` is off because who the client is, is the gateway's own rule (`main.client_ip`, believing only
    `trusted_proxies`). uvicorn's would rewrite the peer from the X-Forwarded-For of any connection from
    127.0.0.1, so a client on the gateway's host could pick the address its rate limit counts and the services
    are told."""
    return {
        "host": settings.host,
        "port": settings.port,
        "log_config": None,
        "access_log": False,
        "proxy_headers": False,
        "timeout_graceful_shutdown": 5,
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway")
    parser.add_argument("command", choices=["serve"])
    parser.parse_args()
    uvicorn.run("gateway.main:create_app", factory=True, **serving_options(GatewaySettings()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
