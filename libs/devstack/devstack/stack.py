"""The whole system as child processes: fake WeChat, Tencent Cloud (SMS, real-name) and 120, five services, the gateway.

Used by `python -m devstack up` (fixed ports, data kept under .data/) and by the test harness
(free ports, throw-away data). PostgreSQL and the broker may be embedded or external.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from devstack.processes import Child, ChildDied, stop_all, wait_until

SERVICES = ["identity", "ledger", "matching", "aed", "audit"]
# The staff console as `make console` builds it; the gateway serves it under /console/ (ADR 17).
CONSOLE_DIST = Path(__file__).resolve().parents[3] / "console" / "dist"


@dataclass
class Ports:
    gateway: int = 8000
    identity: int = 8001
    ledger: int = 8002
    matching: int = 8003
    aed: int = 8004
    audit: int = 8005
    wechat: int = 8090
    dispatch120: int = 8091
    tencentcloud: int = 8092

    def of(self, name: str) -> int:
        return getattr(self, name)


@dataclass
class Stack:
    ports: Ports
    database_url: dict[str, str]  # service -> SQLAlchemy URL
    kafka_bootstrap_servers: str
    log_dir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    # Tests only: a file of seconds every service adds to the real time (servicekit.clock).
    clock_file: Path | None = None
    children: dict[str, Child] = field(default_factory=dict)
    # What svc-aed signs its requests to 120 with, and the fake 120 checks: not the default, so a service that
    # ignored its setting would be refused.
    dispatch_secret: str = field(default_factory=lambda: f"stack-120-{secrets.token_hex(8)}")
    # Likewise the Tencent Cloud secret key identity signs its SMS and real-name requests with.
    tencentcloud_secret_key: str = field(default_factory=lambda: f"stack-tc-{secrets.token_hex(8)}")

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports.of(name)}"

    @property
    def gateway_url(self) -> str:
        return self.url("gateway")

    def service_env(self, name: str) -> dict[str, str]:
        prefix = name.upper() + "_"
        env = {
            prefix + "PORT": str(self.ports.of(name)),
            prefix + "DATABASE_URL": self.database_url[name],
            prefix + "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap_servers,
            prefix + "JWKS_URL": self.url("identity") + "/.well-known/jwks.json",
            prefix + "MIGRATE_ON_START": "true",
        }
        if name == "identity":
            env[prefix + "WECHAT_BASE_URL"] = self.url("wechat")
            env[prefix + "SMS_BASE_URL"] = self.url("tencentcloud")
            env[prefix + "REAL_NAME_AUTHORITY_URL"] = self.url("tencentcloud")
            env[prefix + "TENCENTCLOUD_SECRET_KEY"] = self.tencentcloud_secret_key
        if name == "aed":
            env[prefix + "DISPATCH_WEBHOOK_URL"] = self.url("dispatch120") + "/incident-updates"
            env[prefix + "DISPATCH_WEBHOOK_SECRET"] = self.dispatch_secret
        if self.clock_file is not None:
            env[prefix + "CLOCK_FILE"] = str(self.clock_file)
        env.update({k: v for k, v in self.extra_env.items() if k.startswith(prefix)})
        return env

    def gateway_env(self) -> dict[str, str]:
        env = {
            "GATEWAY_PORT": str(self.ports.gateway),
            "GATEWAY_JWKS_URL": self.url("identity") + "/.well-known/jwks.json",
            "GATEWAY_CONSOLE_DIR": str(CONSOLE_DIST),
        }
        for name in SERVICES:
            env[f"GATEWAY_{name.upper()}_URL"] = self.url(name)
        env.update({k: v for k, v in self.extra_env.items() if k.startswith("GATEWAY_")})
        return env

    def _child(self, name: str, argv: list[str], env: dict[str, str]) -> Child:
        child = Child(name, argv, self.log_dir / f"{name}.log", env=env)
        self.children[name] = child
        return child

    def start(self, *, timeout: float = 90) -> None:
        python = sys.executable
        self._child("wechat", [python, "-m", "devstack.fakes.wechat", "--port", str(self.ports.wechat)], {}).start()
        self._child(
            "dispatch120",
            [
                python,
                "-m",
                "devstack.fakes.dispatch120",
                "--port",
                str(self.ports.dispatch120),
                "--secret",
                self.dispatch_secret,
            ],
            {},
        ).start()
        self._child(
            "tencentcloud",
            [
                python,
                "-m",
                "devstack.fakes.tencentcloud",
                "--port",
                str(self.ports.tencentcloud),
                "--secret-key",
                self.tencentcloud_secret_key,
            ],
            {},
        ).start()
        for name in SERVICES:
            self._child(name, [python, "-m", name, "serve"], self.service_env(name)).start()
        self._child("gateway", [python, "-m", "gateway", "serve"], self.gateway_env()).start()
        for name in ["wechat", "dispatch120", "tencentcloud", *SERVICES, "gateway"]:
            self.wait_ready(name, timeout=timeout)

    def seed_demo(self, *, quiet: bool = True) -> None:
        """The documented demo staff and partner clients (`python -m identity seed-demo`; idempotent)."""
        subprocess.run(
            [sys.executable, "-m", "identity", "seed-demo"],
            check=True,
            capture_output=quiet,
            env={**os.environ, **self.service_env("identity")},
        )

    def restart(self, name: str, *, crash: bool = False, timeout: float = 60) -> None:
        child = self.children[name]
        child.kill() if crash else child.stop()
        child.start()
        self.wait_ready(name, timeout=timeout)

    def wait_ready(self, name: str, *, timeout: float = 60) -> None:
        path = "/healthz" if name in ("wechat", "dispatch120", "tencentcloud") else "/readyz"

        def ready() -> bool:
            child = self.children[name]
            if not child.running:
                raise ChildDied(f"{name} exited:\n{child.tail()}")
            return httpx.get(self.url(name) + path, timeout=2).status_code == 200

        try:
            wait_until(ready, timeout=timeout, interval=0.2, what=f"{name} ready")
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}\n--- {name} log ---\n{self.children[name].tail()}") from None

    def stop(self) -> None:
        stop_all(list(self.children.values()))
