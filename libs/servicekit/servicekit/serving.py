"""How uvicorn serves every process of the system, the gateway and each service alike."""

from typing import Any

UVICORN_OPTIONS: dict[str, Any] = {
    "log_config": None,  # servicekit.logs configures logging
    "access_log": False,  # RequestContextMiddleware logs each request with its ids
    "timeout_graceful_shutdown": 5,
    # Who the client is, is the gateway's rule (gateway.main.client_ip, believing only its trusted proxies), and
    # the services read the gateway's X-Forwarded-For. uvicorn would rewrite the peer from that header for
    # connections from 127.0.0.1 only: a client on the gateway's host could pick the address its rate limit
    # counts, and a service would see one thing on the embedded stack and another behind compose's network.
    "proxy_headers": False,
}
